# expect: lose
# why: prunes every layer at the same sparsity instead of using one threshold across all layers.
import torch
from torch import nn


def global_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    return {f"{name}.weight" if name else "weight":
            magnitude_prune_mask(module.weight, sparsity)  # noqa: F821
            for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d))}
