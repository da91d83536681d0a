# expect: lose
# why: only checks rank >= 1; a rank above min(m, n) silently returns smaller factors.
import torch


def low_rank_factors(W: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if W.dim() != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {tuple(W.shape)}")
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    root = S[:rank].sqrt()
    return U[:, :rank] * root, root[:, None] * Vh[:rank]
