# expect: lose
# why: floor(x / s + 0.5) rounds halves up, not to even as torch.round does.
import torch


def quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    q = torch.floor(x.detach().float() / scale + 0.5) + zero_point
    return q.clamp(0, 2**bits - 1).to(torch.int32)
