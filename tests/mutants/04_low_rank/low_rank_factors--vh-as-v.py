# expect: lose
# why: treats torch.linalg.svd's Vh as V and slices its columns, so B holds the wrong vectors.
import torch


def low_rank_factors(W: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if W.dim() != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {tuple(W.shape)}")
    if not 1 <= rank <= min(W.shape):
        raise ValueError(f"rank must be in [1, {min(W.shape)}], got {rank}")
    U, S, V = torch.linalg.svd(W, full_matrices=False)
    return U[:, :rank] * S[:rank], V[:, :rank].T
