# expect: lose
# why: forgets the square root for the default (sum of squares, not the L2 norm).
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm}")
    w = conv_weight.detach()
    if norm == 1:
        return w.abs().sum(dim=(1, 2, 3))
    return w.pow(2).sum(dim=(1, 2, 3))
