# expect: lose
# why: iterates over every parameter, so biases (and BatchNorm weights) are pruned too.
import torch
from torch import nn


def global_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    params = dict(model.named_parameters())
    flat = torch.cat([p.detach().flatten() for p in params.values()])
    flat_mask = magnitude_prune_mask(flat, sparsity)  # noqa: F821
    pieces = torch.split(flat_mask, [p.numel() for p in params.values()])
    return {name: piece.view(p.shape)
            for (name, p), piece in zip(params.items(), pieces, strict=True)}
