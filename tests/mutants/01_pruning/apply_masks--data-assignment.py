# expect: full
# why: replacing param.data keeps the same Parameter object (the optimizer's), so it is correct; validation and the returned sparsity as asked.
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
        param.data = torch.where(mask, param.data, torch.zeros_like(param.data))
        result[name] = float((param.data == 0).float().mean())
    return result
