# expect: lose
# why: returns the 0-based index of the first sufficient entry, one less than the rank.
import torch


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    if not 0.0 <= energy <= 1.0:
        raise ValueError(f"energy must be in [0, 1], got {energy}")
    if singular_values.dim() != 1 or singular_values.numel() == 0:
        raise ValueError("singular_values must be a non-empty 1-D tensor")
    s = singular_values.detach().double()
    if (s < 0).any() or (s[1:] > s[:-1]).any():
        raise ValueError("singular_values must be non-negative and in descending order")
    held = torch.cumsum(s.square(), dim=0)
    return int((held < energy * held[-1]).sum().item())
