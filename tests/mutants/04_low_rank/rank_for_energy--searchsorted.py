# expect: full
# why: searchsorted finds the first leading sum >= energy * (the cumsum's own last entry).
import torch


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    if not 0.0 <= energy <= 1.0:
        raise ValueError(f"energy must be in [0, 1], got {energy}")
    if singular_values.dim() != 1 or singular_values.numel() == 0:
        raise ValueError("singular_values must be a non-empty 1-D tensor")
    s = singular_values.detach().double()
    if (s < 0).any() or (s[1:] > s[:-1]).any():
        raise ValueError("singular_values must be non-negative and in descending order")
    held = torch.cumsum(s * s, dim=0)
    target = torch.tensor([energy], dtype=held.dtype) * held[-1]
    index = int(torch.searchsorted(held, target).item())
    return max(1, min(index + 1, len(s)))
