# expect: lose
# why: returns U_r and Vh_r without the singular values, so A @ B has the wrong scale.
import torch


def low_rank_factors(W: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if W.dim() != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {tuple(W.shape)}")
    if not 1 <= rank <= min(W.shape):
        raise ValueError(f"rank must be in [1, {min(W.shape)}], got {rank}")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    return U[:, :rank], Vh[:rank]
