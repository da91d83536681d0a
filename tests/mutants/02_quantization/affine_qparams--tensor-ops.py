# expect: full
# why: the same range, scale and rounded zero point computed with tensor ops is correct.
import torch


def affine_qparams(x: torch.Tensor, bits: int) -> tuple[float, int]:
    if bits < 1:
        raise ValueError(f"bits must be at least 1, got {bits}")
    lo = torch.clamp(x.detach().double().min(), max=0.0)
    hi = torch.clamp(x.detach().double().max(), min=0.0)
    if bool(hi == lo):
        return 1.0, 0
    scale = (hi - lo) / (2**bits - 1)
    zero_point = torch.round(-lo / scale).clamp(0, 2**bits - 1)
    return float(scale), int(zero_point)
