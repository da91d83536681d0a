# expect: lose
# why: no special case for an all-zero tensor, so its scale is 0 (and the zero point undefined).
import torch


def affine_qparams(x: torch.Tensor, bits: int) -> tuple[float, int]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    q_max = 2**bits - 1
    x_min = min(x.min().item(), 0.0)
    x_max = max(x.max().item(), 0.0)
    scale = (x_max - x_min) / q_max
    zero_point = 0 if scale == 0 else int(min(max(round(-x_min / scale), 0), q_max))
    return scale, zero_point
