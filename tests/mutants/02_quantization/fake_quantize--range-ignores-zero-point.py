# expect: lose
# why: takes the representable range as [0, (2**bits - 1) * scale], forgetting the zero point.
import torch


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    x_hat = dequantize(quantize(x, scale, zero_point, bits), scale, zero_point).to(x.dtype)  # noqa: F821
    inside = (x >= 0) & (x <= (2**bits - 1) * scale)
    passed = torch.where(inside, x, x.detach())
    return x_hat + (passed - passed.detach())
