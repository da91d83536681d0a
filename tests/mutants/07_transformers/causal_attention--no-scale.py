# expect: lose
# why: forgets to divide the scores by sqrt(d), so the softmax is too sharp.
import torch


def causal_attention(q, k, v):
    if q.dim() != 4:
        raise ValueError("q must be 4-D")
    if k.shape != q.shape:
        raise ValueError("k must have q's shape")
    if v.shape != k.shape:
        raise ValueError("v must have k's shape")
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1)
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
