# expect: lose
# why: leaves a bad dim to PyTorch, which raises an IndexError, not the ValueError naming dim the text asks for.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    shifted = (logits - logits.amax(dim=dim, keepdim=True)) / T
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
