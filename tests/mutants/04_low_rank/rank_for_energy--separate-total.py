# expect: lose
# why: compares with a separately summed total; at energy = 1 round-off can leave the cumsum short of it.
import torch


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    if not 0.0 <= energy <= 1.0:
        raise ValueError(f"energy must be in [0, 1], got {energy}")
    if singular_values.dim() != 1 or singular_values.numel() == 0:
        raise ValueError("singular_values must be a non-empty 1-D tensor")
    s = singular_values.detach()
    if (s < 0).any() or (s[1:] > s[:-1]).any():
        raise ValueError("singular_values must be non-negative and in descending order")
    held = torch.cumsum(s.square(), dim=0)
    total = s.square().sum()
    for r in range(1, len(s) + 1):
        if held[r - 1] >= energy * total:
            return r
    return len(s) + 1
