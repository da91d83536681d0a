# expect: full
# why: a plain loop over rows and groups, sorting each group by magnitude, gives a correct mask.
import torch


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError(f"weight needs >= 2 dims, got {weight.dim()}")
    if m < 1:
        raise ValueError(f"m must be at least 1, got {m}")
    if n < 0 or n > m:
        raise ValueError(f"n must satisfy 0 <= n <= m, got n={n}")
    rows = weight.detach().abs().flatten(1)
    mask = torch.zeros(rows.shape, dtype=torch.bool)
    for r in range(rows.shape[0]):
        for start in range(0, rows.shape[1], m):
            group = rows[r, start:start + m]
            order = torch.argsort(group, descending=True)
            mask[r, start + order[:min(n, group.numel())]] = True
    return mask.reshape(weight.shape)
