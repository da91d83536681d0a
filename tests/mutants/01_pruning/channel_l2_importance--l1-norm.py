# expect: lose
# why: sums absolute values (L1) instead of the L2 norm.
import torch


def channel_l2_importance(conv_weight: torch.Tensor) -> torch.Tensor:
    return conv_weight.detach().abs().sum(dim=(1, 2, 3))
