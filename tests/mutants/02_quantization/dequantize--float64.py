# expect: lose
# why: returns float64 where the contract says float32.
import torch


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return (q.double() - zero_point) * scale
