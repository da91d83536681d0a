# expect: full
# why: replacing param.data keeps the same Parameter object (the optimizer's), so it is correct.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        param = model.get_parameter(name)
        param.data = torch.where(mask, param.data, torch.zeros_like(param.data))
