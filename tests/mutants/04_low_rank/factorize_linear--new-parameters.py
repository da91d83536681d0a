# expect: full
# why: assigning fresh nn.Parameters made from copies of the factors is correct.
from torch import nn


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    A, B = low_rank_factors(layer.weight.detach(), rank)  # noqa: F821
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    first.weight = nn.Parameter(B.clone())
    second.weight = nn.Parameter(A.clone())
    if layer.bias is not None:
        second.bias = nn.Parameter(layer.bias.detach().clone())
    return nn.Sequential(first, second).to(device=layer.weight.device)
