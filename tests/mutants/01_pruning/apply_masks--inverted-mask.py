# expect: lose
# why: multiplies by ~mask, zeroing the weights the mask keeps (True means keep).
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_parameter(name).mul_(~mask)
