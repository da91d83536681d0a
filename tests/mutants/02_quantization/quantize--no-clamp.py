# expect: lose
# why: forgets to clamp to [0, 2**bits - 1], so out-of-range values are not clipped.
import torch


def quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return (torch.round(x.detach().float() / scale) + zero_point).to(torch.int32)
