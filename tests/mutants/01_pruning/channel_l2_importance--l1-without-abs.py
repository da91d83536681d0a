# expect: lose
# why: for norm=1 sums the signed weights, so negative weights cancel positive ones.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm}")
    w = conv_weight.detach().flatten(1)
    return w.sum(dim=1) if norm == 1 else w.norm(dim=1)
