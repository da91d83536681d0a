# expect: lose
# why: writes the softmax as exp / sum without subtracting the row maximum, which overflows for large scores.
import math

import torch


def causal_attention(q, k, v):
    if q.dim() != 4:
        raise ValueError("q must be 4-D")
    if k.shape != q.shape:
        raise ValueError("k must have q's shape")
    if v.shape != k.shape:
        raise ValueError("v must have k's shape")
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.exp(scores).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), 0.0)
    return weights / weights.sum(dim=-1, keepdim=True) @ v
