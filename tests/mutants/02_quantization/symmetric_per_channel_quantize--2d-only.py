# expect: lose
# why: takes the max over dim 1 only, which is right for a Linear but not for a conv weight.
import torch


def symmetric_per_channel_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    q_max = 2 ** (bits - 1) - 1
    w = w.detach().float()
    max_abs = w.abs().amax(dim=1)
    scales = torch.where(max_abs > 0, max_abs / q_max, torch.ones_like(max_abs))
    q = torch.round(w / scales.unsqueeze(1)).clamp(-q_max, q_max)
    return q.to(torch.int32), scales
