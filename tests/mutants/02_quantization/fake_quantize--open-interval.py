# expect: lose
# why: strict inequalities zero the gradient at the two ends of the range, which are inside it.
import torch


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    x_hat = dequantize(quantize(x, scale, zero_point, bits), scale, zero_point).to(x.dtype)  # noqa: F821
    low, high = (0 - zero_point) * scale, (2**bits - 1 - zero_point) * scale
    inside = (x > low) & (x < high)
    passed = torch.where(inside, x, x.detach())
    return x_hat + (passed - passed.detach())
