# expect: lose
# why: normalises over dim 0 (the batch) instead of the last dimension (the classes).
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    return torch.softmax(logits / T, dim=0)
