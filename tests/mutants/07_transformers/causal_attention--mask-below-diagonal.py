# expect: lose
# why: masks the past instead of the future (tril instead of triu), so each position sees what follows it.
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
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
