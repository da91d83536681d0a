# expect: lose
# why: multiplies the logits by T, which sharpens the distribution instead of softening it.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    return torch.softmax(logits * T, dim=-1)
