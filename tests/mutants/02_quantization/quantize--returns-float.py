# expect: lose
# why: returns the rounded values as a float tensor instead of an integer dtype.
import torch


def quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return (torch.round(x.detach().float() / scale) + zero_point).clamp(0, 2**bits - 1)
