# expect: lose
# why: forgets the 1/sqrt(d) scale, so cached decoding disagrees with the model's attention.
import torch


def attend_with_cache(q_t, k_t, v_t, cache):
    if q_t.dim() != 4 or q_t.shape[2] != 1:
        raise ValueError("q_t must be [batch, heads, 1, d]")
    if cache is None:
        keys, values = k_t, v_t
    else:
        K, V = cache
        if K.shape[:2] != k_t.shape[:2] or K.shape[3] != k_t.shape[3] or V.shape != K.shape:
            raise ValueError("cache does not match the new key")
        keys, values = torch.cat([K, k_t], dim=2), torch.cat([V, v_t], dim=2)
    return torch.softmax(q_t @ keys.transpose(-2, -1), dim=-1) @ values, (keys, values)
