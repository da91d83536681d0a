# expect: lose
# why: counts leading sums <= the target instead of <, one rank too many when a sum hits it exactly.
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
    short = (held <= energy * held[-1]).sum().item()
    return int(min(short + 1, len(s)))
