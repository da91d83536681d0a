# expect: lose
# why: checks names and shapes but lets a float or integer 0/1 mask through, which mul_ accepts.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    parameters = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in parameters or mask.shape != parameters[name].shape:
            raise ValueError(f"masks: {name!r} does not match a parameter of the model")
    result = {}
    with torch.no_grad():
        for name, mask in masks.items():
            parameters[name].mul_(mask)
            result[name] = (parameters[name] == 0).sum().item() / mask.numel()
    return result
