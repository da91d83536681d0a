# expect: lose
# why: sorts the input instead of rejecting an unsorted one with a ValueError naming singular_values.
import torch


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    if not 0.0 <= energy <= 1.0:
        raise ValueError(f"energy must be in [0, 1], got {energy}")
    s = torch.sort(singular_values.detach().double().flatten(), descending=True).values
    held = torch.cumsum(s.square(), dim=0)
    short = (held < energy * held[-1]).sum().item()
    return int(min(short + 1, len(s)))
