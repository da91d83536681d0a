# expect: full
# why: converting to float32 before subtracting is exact for integers below 2**24.
import torch


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return scale * (q.float() - float(zero_point))
