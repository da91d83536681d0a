# expect: lose
# why: a torch.quantile threshold interpolates between values, so the pruned count is not exact.
import torch
from torch import nn


def global_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    weights = {f"{name}.weight" if name else "weight": module.weight.detach()
               for name, module in model.named_modules()
               if isinstance(module, (nn.Linear, nn.Conv2d))}
    flat = torch.cat([w.abs().flatten() for w in weights.values()])
    threshold = torch.quantile(flat.double(), sparsity)
    return {name: w.abs().double() > threshold for name, w in weights.items()}
