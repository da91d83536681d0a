# expect: lose
# why: assigns a new nn.Parameter, which an optimizer created earlier does not hold, so it never trains.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        module_name, _, attribute = name.rpartition(".")
        module = model.get_submodule(module_name)
        weight = getattr(module, attribute)
        setattr(module, attribute, nn.Parameter(weight.detach() * mask))
