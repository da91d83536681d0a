# expect: lose
# why: x + (y - x).detach() passes the gradient everywhere, also where the forward pass clipped.
import torch


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    x_hat = dequantize(quantize(x, scale, zero_point, bits), scale, zero_point).to(x.dtype)  # noqa: F821
    return x + (x_hat - x).detach()
