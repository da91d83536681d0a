# expect: full
# why: clamp's gradient is 1 inside [low, high] (ends included) and 0 outside: the same STE.
import torch


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    low, high = (0 - zero_point) * scale, (2**bits - 1 - zero_point) * scale
    q = torch.clamp(torch.round(x.detach() / scale) + zero_point, 0, 2**bits - 1)
    x_hat = ((q - zero_point) * scale).to(x.dtype)
    clipped = torch.clamp(x, low, high)
    return clipped + (x_hat - clipped).detach()
