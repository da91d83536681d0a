# expect: full
# why: putting all of the singular values into A (A = U_r S_r, B = Vh_r) gives the same product.
import torch


def low_rank_factors(W: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D, got {W.ndim}-D")
    m, n = W.shape
    if rank < 1 or rank > min(m, n):
        raise ValueError(f"rank must be between 1 and {min(m, n)}, got rank={rank}")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    return U[:, :rank] @ torch.diag(S[:rank]), Vh[:rank, :].clone()
