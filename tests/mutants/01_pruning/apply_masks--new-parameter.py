# expect: lose
# why: assigns a new nn.Parameter, which an optimizer created earlier does not hold, so it never trains.
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
        module_name, _, attribute = name.rpartition(".")
        module = model.get_submodule(module_name)
        weight = nn.Parameter(getattr(module, attribute).detach() * mask)
        setattr(module, attribute, weight)
        result[name] = (weight == 0).sum().item() / weight.numel()
    return result
