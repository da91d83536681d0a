# expect: lose
# why: accepts T <= 0 (dividing by 0 or flipping the order) instead of raising a ValueError.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float) -> torch.Tensor:
    return torch.softmax(logits / T, dim=-1)
