# expect: lose
# why: forgets to subtract the zero point.
import torch


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return q.to(torch.float32) * scale
