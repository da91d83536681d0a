# expect: full
# why: validating the shapes and calling PyTorch's fused kernel is a correct answer.
import torch.nn.functional as F


def causal_attention(q, k, v):
    if q.dim() != 4:
        raise ValueError(f"q must be 4-D, got {tuple(q.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"k must have q's shape, got {tuple(k.shape)}")
    if v.shape != k.shape:
        raise ValueError(f"v must have k's shape, got {tuple(v.shape)}")
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
