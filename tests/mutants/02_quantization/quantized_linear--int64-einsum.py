# expect: full
# why: int64 accumulation and a float64 requantization are within the contract.
import torch


def quantized_linear(q_x: torch.Tensor, x_scale: float, x_zp: int, q_w: torch.Tensor,
                     w_scales: torch.Tensor, bias: torch.Tensor | None, out_scale: float,
                     out_zp: int, bits: int = 8) -> torch.Tensor:
    if bits < 1:
        raise ValueError(f"bits must be at least 1, got bits={bits}")
    if q_x.shape[1] != q_w.shape[1]:
        raise ValueError(f"q_x has {q_x.shape[1]} features, q_w has {q_w.shape[1]}")
    acc = torch.einsum("bi,oi->bo", q_x.long() - x_zp, q_w.long())
    multiplier = w_scales.double() * x_scale
    if bias is not None:
        acc = acc + torch.round(bias.double() / multiplier).long()
    out = torch.round(acc.double() * multiplier / out_scale).long() + out_zp
    return torch.clamp(out, 0, 2**bits - 1)
