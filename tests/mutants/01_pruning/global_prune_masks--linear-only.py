# expect: lose
# why: forgets nn.Conv2d, so convolution weights get no mask.
import torch
from torch import nn


def global_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    weights = {f"{name}.weight" if name else "weight": module.weight.detach()
               for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    flat = torch.cat([w.flatten() for w in weights.values()])
    flat_mask = magnitude_prune_mask(flat, sparsity)  # noqa: F821
    pieces = torch.split(flat_mask, [w.numel() for w in weights.values()])
    return {name: piece.view(w.shape)
            for (name, w), piece in zip(weights.items(), pieces, strict=True)}
