# expect: lose
# why: forgets the square root (sum of squares, not the norm).
import torch


def channel_l2_importance(conv_weight: torch.Tensor) -> torch.Tensor:
    return conv_weight.detach().pow(2).sum(dim=(1, 2, 3))
