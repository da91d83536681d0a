# expect: lose
# why: gives BOTH new layers a bias (bias=layer.bias is not None twice); the first one adds a random offset.
import torch
from torch import nn


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    A, B = low_rank_factors(layer.weight.detach(), rank)  # noqa: F821
    has_bias = layer.bias is not None
    like = {"dtype": layer.weight.dtype, "device": layer.weight.device}
    first = nn.Linear(layer.in_features, rank, bias=has_bias, **like)
    second = nn.Linear(rank, layer.out_features, bias=has_bias, **like)
    with torch.no_grad():
        first.weight.copy_(B)
        second.weight.copy_(A)
        if has_bias:
            second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)
