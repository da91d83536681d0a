# expect: lose
# why: reuses the original bias Parameter, so fine-tuning the factorized layers changes `layer`.
import torch
from torch import nn


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    A, B = low_rank_factors(layer.weight.detach(), rank)  # noqa: F821
    like = {"dtype": layer.weight.dtype, "device": layer.weight.device}
    first = nn.Linear(layer.in_features, rank, bias=False, **like)
    second = nn.Linear(rank, layer.out_features, bias=False, **like)
    with torch.no_grad():
        first.weight.copy_(B)
        second.weight.copy_(A)
    second.bias = layer.bias
    return nn.Sequential(first, second)
