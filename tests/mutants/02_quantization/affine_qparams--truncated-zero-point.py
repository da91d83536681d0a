# expect: lose
# why: int() truncates -x_min / scale instead of rounding it.
import torch


def affine_qparams(x: torch.Tensor, bits: int) -> tuple[float, int]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    q_max = 2**bits - 1
    x_min = min(x.min().item(), 0.0)
    x_max = max(x.max().item(), 0.0)
    if x_max == x_min:
        return 1.0, 0
    scale = (x_max - x_min) / q_max
    return scale, int(min(max(-x_min / scale, 0), q_max))
