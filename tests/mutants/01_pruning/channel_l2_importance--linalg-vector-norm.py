# expect: full
# why: torch.linalg.vector_norm with ord=norm over each flattened filter gives the same L1/L2 norms.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm not in (1, 2):
        raise ValueError("norm must be 1 or 2")
    return torch.linalg.vector_norm(conv_weight.detach().flatten(1), ord=norm, dim=1)
