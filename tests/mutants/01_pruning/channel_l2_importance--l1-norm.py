# expect: lose
# why: sums absolute values (L1) for the default as well, instead of the L2 norm.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm}")
    return conv_weight.detach().abs().sum(dim=(1, 2, 3))
