# expect: full
# why: the Optimal Brain Quantization form, removing each quantized column from an explicit inverse Hessian, computes the same updates as the Cholesky form.
import torch


def gptq_quantize(w, hessian, bits, group_size, damp=0.01):
    if w.dim() != 2:
        raise ValueError("w must be 2-D")
    n = w.shape[1]
    if hessian.shape != (n, n):
        raise ValueError("hessian must be [in, in]")
    if damp < 0:
        raise ValueError("damp must be >= 0")
    if not 1 <= bits <= 8:
        raise ValueError("bits must be in 1..8")
    if group_size < 1 or n % group_size:
        raise ValueError("group_size must divide in")
    W = w.detach().double().clone()
    H = hessian.detach().double().clone()
    H = H + damp * H.diagonal().mean() * torch.eye(n, dtype=torch.float64)
    H_inv = torch.linalg.inv(H)
    qmax = 2 ** bits - 1
    codes = torch.zeros(W.shape, dtype=torch.int64)
    scales = torch.zeros(W.shape[0], n // group_size, dtype=torch.float64)
    zeros = torch.zeros(W.shape[0], n // group_size, dtype=torch.int64)
    for j in range(n):
        g = j // group_size
        if j % group_size == 0:
            block = W[:, j:j + group_size]
            low, high = block.amin(1).clamp(max=0), block.amax(1).clamp(min=0)
            scale = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
            scales[:, g] = scale
            zeros[:, g] = torch.round(-low / scale).clamp(0, qmax).long()
        s, z = scales[:, g], zeros[:, g].double()
        q = torch.clamp(torch.round(W[:, j] / s) + z, 0, qmax)
        codes[:, j] = q.long()
        err = (W[:, j] - (q - z) * s) / H_inv[j, j]
        W[:, j:] -= err[:, None] * H_inv[j, j:][None, :]
        H_inv = H_inv - H_inv[:, j:j + 1] @ H_inv[j:j + 1, :] / H_inv[j, j]
    return codes, scales.to(w.dtype), zeros
