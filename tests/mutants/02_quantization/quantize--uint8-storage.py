# expect: lose
# why: stores the result as uint8, which wraps around for bits > 8.
import torch


def quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    q = torch.round(x.detach().float() / scale) + zero_point
    return q.clamp(0, 2**bits - 1).to(torch.uint8)
