# expect: lose
# why: an all-zero channel gets scale 0, and 0 / 0 fills its q with NaN (garbage integers).
import torch


def symmetric_per_channel_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    q_max = 2 ** (bits - 1) - 1
    w = w.detach().float()
    scales = w.abs().reshape(len(w), -1).amax(dim=1) / q_max
    per_row = scales.reshape(-1, *([1] * (w.dim() - 1)))
    q = torch.round(w / per_row).clamp(-q_max, q_max)
    return q.to(torch.int32), scales
