# expect: lose
# why: keeps the n/m largest of each whole row, which does not bound the count in each group.
import torch


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    if not 0 <= n <= m:
        raise ValueError("n must be in [0, m]")
    rows = weight.detach().abs().flatten(1)
    keep = round(n / m * rows.shape[1])
    mask = torch.zeros_like(rows, dtype=torch.bool)
    mask.scatter_(-1, rows.topk(keep, dim=-1).indices, True)
    return mask.reshape(weight.shape)
