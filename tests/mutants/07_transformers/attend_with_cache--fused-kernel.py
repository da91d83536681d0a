# expect: full
# why: calling F.scaled_dot_product_attention without a mask over the grown cache is correct: every cached key is in the past.
import torch
import torch.nn.functional as F


def attend_with_cache(q_t, k_t, v_t, cache):
    if q_t.dim() != 4 or q_t.shape[-2] != 1:
        raise ValueError(f"q_t must be [batch, heads, 1, d], got {tuple(q_t.shape)}")
    if cache is not None:
        K, V = cache
        ok = K.dim() == 4 and K.shape[:2] == k_t.shape[:2] and K.shape[-1] == k_t.shape[-1]
        if not ok or V.shape != K.shape:
            raise ValueError(f"cache shapes {tuple(K.shape)}, {tuple(V.shape)} do not fit k_t")
        k_t, v_t = torch.cat((K, k_t), dim=-2), torch.cat((V, v_t), dim=-2)
    return F.scaled_dot_product_attention(q_t, k_t, v_t), (k_t, v_t)
