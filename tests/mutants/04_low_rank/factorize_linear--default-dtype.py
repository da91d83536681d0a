# expect: lose
# why: builds the new layers in the default float32, whatever the original layer's dtype.
import torch
from torch import nn


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    A, B = low_rank_factors(layer.weight.detach(), rank)  # noqa: F821
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(B)
        second.weight.copy_(A)
        if layer.bias is not None:
            second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)
