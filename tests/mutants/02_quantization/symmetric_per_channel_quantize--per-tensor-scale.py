# expect: lose
# why: one scale from the whole tensor's max, repeated per channel, is per-tensor quantization.
import torch


def symmetric_per_channel_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    q_max = 2 ** (bits - 1) - 1
    w = w.detach().float()
    max_abs = w.abs().max()
    scale = max_abs / q_max if max_abs > 0 else torch.tensor(1.0)
    q = torch.round(w / scale).clamp(-q_max, q_max)
    return q.to(torch.int32), scale.repeat(len(w))
