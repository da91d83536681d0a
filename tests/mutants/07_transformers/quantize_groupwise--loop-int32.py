# expect: full
# why: a loop over the groups with int32 codes and zero points follows the same definition.
import torch


def quantize_groupwise(w, bits, group_size):
    if w.dim() != 2:
        raise ValueError(f"w must be 2-D, got {w.dim()}-D")
    if not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an int in [1, 8], got {bits}")
    if group_size < 1 or w.shape[1] % group_size != 0:
        raise ValueError(f"group_size {group_size} must be >= 1 and divide {w.shape[1]}")
    qmax = 2 ** bits - 1
    out_f, in_f = w.shape
    codes = torch.empty(out_f, in_f, dtype=torch.int32)
    scales = torch.empty(out_f, in_f // group_size, dtype=w.dtype)
    zeros = torch.empty(out_f, in_f // group_size, dtype=torch.int32)
    for j, start in enumerate(range(0, in_f, group_size)):
        block = w[:, start:start + group_size]
        low = torch.minimum(block.min(dim=1).values, torch.zeros((), dtype=w.dtype))
        high = torch.maximum(block.max(dim=1).values, torch.zeros((), dtype=w.dtype))
        scale = (high - low) / qmax
        scale[high == low] = 1.0
        zero = torch.round(-low / scale).clamp(0, qmax)
        q = torch.round(block / scale[:, None]) + zero[:, None]
        codes[:, start:start + group_size] = q.clamp(0, qmax).to(torch.int32)
        scales[:, j], zeros[:, j] = scale, zero.to(torch.int32)
    return codes, scales, zeros
