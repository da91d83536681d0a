# expect: lose
# why: divides the range by 2**bits instead of 2**bits - 1 (the number of steps).
import torch


def affine_qparams(x: torch.Tensor, bits: int) -> tuple[float, int]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    x_min = min(x.min().item(), 0.0)
    x_max = max(x.max().item(), 0.0)
    if x_max == x_min:
        return 1.0, 0
    scale = (x_max - x_min) / 2**bits
    return scale, int(min(max(round(-x_min / scale), 0), 2**bits - 1))
