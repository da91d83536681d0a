# expect: lose
# why: reduces over the output channels (dim 0) instead of within each filter.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm}")
    return conv_weight.detach().flatten(1).norm(p=norm, dim=0)
