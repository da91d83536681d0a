# expect: lose
# why: only masks the gradients; the pruned weights themselves are never set to zero.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    parameters = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in parameters:
            raise ValueError(f"masks: no parameter {name!r}")
        if mask.dtype != torch.bool or mask.shape != parameters[name].shape:
            raise ValueError(f"masks[{name!r}]: expected a bool mask of shape "
                             f"{tuple(parameters[name].shape)}")
    result = {}
    for name, mask in masks.items():
        param = parameters[name]
        param.register_hook(lambda grad, mask=mask: grad * mask)
        result[name] = 1 - mask.float().mean().item()
    return result
