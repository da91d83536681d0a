# expect: lose
# why: creates the second layer with a bias but never copies the original bias into it.
import torch
from torch import nn


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    A, B = low_rank_factors(layer.weight.detach(), rank)  # noqa: F821
    like = {"dtype": layer.weight.dtype, "device": layer.weight.device}
    first = nn.Linear(layer.in_features, rank, bias=False, **like)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None, **like)
    with torch.no_grad():
        first.weight.copy_(B)
        second.weight.copy_(A)
    return nn.Sequential(first, second)
