# expect: lose
# why: applies and counts correctly but never checks the masks, so a float or broadcasting mask is applied silently.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    result = {}
    with torch.no_grad():
        for name, mask in masks.items():
            param = model.get_parameter(name)
            param.mul_(mask)
            result[name] = (param == 0).sum().item() / param.numel()
    return result
