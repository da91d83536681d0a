# expect: lose
# why: returns each sparsity as a 0-d tensor instead of the Python float the text asks for.
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
    with torch.no_grad():
        for name, mask in masks.items():
            parameters[name].mul_(mask)
            result[name] = (parameters[name] == 0).float().mean()
    return result
