# expect: lose
# why: divides by 2**(bits-1) and clamps to [-2**(bits-1), 2**(bits-1) - 1], the asymmetric int range.
import torch


def symmetric_per_channel_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    half = 2 ** (bits - 1)
    w = w.detach().float()
    max_abs = w.abs().reshape(len(w), -1).amax(dim=1)
    scales = torch.where(max_abs > 0, max_abs / half, torch.ones_like(max_abs))
    per_row = scales.reshape(-1, *([1] * (w.dim() - 1)))
    q = torch.round(w / per_row).clamp(-half, half - 1)
    return q.to(torch.int32), scales
