# expect: lose
# why: subtracts the zero point in q's own uint8 dtype, which wraps around below zero.
import torch


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return (q - zero_point).to(torch.float32) * scale
