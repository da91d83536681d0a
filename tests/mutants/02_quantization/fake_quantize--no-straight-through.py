# expect: lose
# why: returns dequantize(quantize(x)) alone, which has no gradient (rounding is flat).
import torch


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    return dequantize(quantize(x, scale, zero_point, bits), scale, zero_point).to(x.dtype)  # noqa: F821
