# expect: full
# why: the square root of the summed squares (L2) or the summed magnitudes (L1) over (C_in, kh, kw) are the same norms.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm != 1 and norm != 2:
        raise ValueError(f"unsupported norm {norm}: use 1 or 2")
    w = conv_weight.detach()
    if norm == 1:
        return w.abs().sum(dim=(1, 2, 3))
    return torch.sqrt((w * w).sum(dim=(1, 2, 3)))
