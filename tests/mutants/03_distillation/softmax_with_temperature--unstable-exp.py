# expect: lose
# why: exponentiates without subtracting the max, so large logits overflow to inf and give NaN.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    exps = torch.exp(logits / T)
    return exps / exps.sum(dim=dim, keepdim=True)
