# expect: lose
# why: subtracts the zero point in q_x's uint8 storage dtype (it wraps below 0), widening too late.
import torch


def quantized_linear(q_x: torch.Tensor, x_scale: float, x_zp: int, q_w: torch.Tensor,
                     w_scales: torch.Tensor, bias: torch.Tensor | None, out_scale: float,
                     out_zp: int, bits: int = 8) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if q_x.shape[-1] != q_w.shape[-1]:
        raise ValueError(f"q_x has {q_x.shape[-1]} features but q_w expects {q_w.shape[-1]}")
    accumulator = (q_x - x_zp).to(torch.int32) @ q_w.to(torch.int32).T
    accumulator_scales = x_scale * w_scales.double()
    if bias is not None:
        accumulator = accumulator + torch.round(bias.double() / accumulator_scales).to(torch.int32)
    q_y = torch.round(accumulator.double() * (accumulator_scales / out_scale)) + out_zp
    return q_y.clamp(0, 2**bits - 1).to(torch.int32)
