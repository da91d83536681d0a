# expect: lose
# why: reduces over the output channels (dim 0) instead of within each filter.
import torch


def channel_l2_importance(conv_weight: torch.Tensor) -> torch.Tensor:
    return conv_weight.detach().flatten(1).norm(dim=0)
