# expect: full
# why: int64 output with torch.clamp is correct (int32 or int64 are both allowed).
import torch


def quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1 (got {bits})")
    if scale <= 0:
        raise ValueError(f"scale must be positive (got {scale})")
    rounded = torch.round(x.detach().to(torch.float32) / scale).to(torch.int64)
    return torch.clamp(rounded + zero_point, min=0, max=2**bits - 1)
