# expect: full
# why: the square root of the summed squares over (C_in, kh, kw) is the same L2 norm.
import torch


def channel_l2_importance(conv_weight: torch.Tensor) -> torch.Tensor:
    w = conv_weight.detach()
    return torch.sqrt((w * w).sum(dim=(1, 2, 3)))
