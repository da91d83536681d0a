# expect: lose
# why: uses x's own range without widening it to include 0, so 0.0 is not exactly representable.
import torch


def affine_qparams(x: torch.Tensor, bits: int) -> tuple[float, int]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    q_max = 2**bits - 1
    x_min, x_max = x.min().item(), x.max().item()
    if x_max == x_min:
        return 1.0, 0
    scale = (x_max - x_min) / q_max
    zero_point = int(min(max(round(-x_min / scale), 0), q_max))
    return scale, zero_point
