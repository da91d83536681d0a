# expect: full
# why: exp(log_softmax(z / T)) is the same stable softmax.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float) -> torch.Tensor:
    if T <= 0:
        raise ValueError(f"temperature T must be positive, got T={T}")
    return torch.log_softmax(logits / T, dim=-1).exp()
