# expect: full
# why: a loop over output channels with the same per-channel rule is correct.
import torch


def symmetric_per_channel_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 2:
        raise ValueError(f"bits must be at least 2, got {bits}")
    q_max = 2 ** (bits - 1) - 1
    q = torch.empty(w.shape, dtype=torch.int64)
    scales = torch.empty(w.shape[0], dtype=torch.float32)
    for c in range(w.shape[0]):
        row = w[c].detach().float()
        biggest = row.abs().max()
        scales[c] = biggest / q_max if biggest > 0 else 1.0
        q[c] = torch.clamp(torch.round(row / scales[c]), -q_max, q_max).long()
    return q, scales
