# expect: lose
# why: exponentiates without subtracting the max, so large logits overflow to inf and give NaN.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    e = torch.exp(logits / T)
    return e / e.sum(dim=-1, keepdim=True)
