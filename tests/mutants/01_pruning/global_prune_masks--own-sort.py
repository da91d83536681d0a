# expect: full
# why: one stable sort over all |w|, without calling magnitude_prune_mask, is correct.
import torch
from torch import nn


def global_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    if sparsity < 0 or sparsity > 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    names, weights = [], []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            names.append(f"{name}.weight" if name else "weight")
            weights.append(module.weight.detach())
    flat = torch.cat([w.abs().reshape(-1) for w in weights])
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep[torch.sort(flat, stable=True).indices[:round(sparsity * flat.numel())]] = False
    masks, start = {}, 0
    for name, w in zip(names, weights, strict=True):
        masks[name] = keep[start:start + w.numel()].reshape(w.shape).clone()
        start += w.numel()
    return masks
