# expect: lose
# why: adds a fixed 1e-6 to the diagonal instead of damp * mean(diag H), so the damping the caller asked for is ignored.
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
    H = hessian.detach().double() + 1e-6 * torch.eye(n, dtype=torch.float64)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    qmax = 2 ** bits - 1
    codes = torch.zeros(W.shape, dtype=torch.int64)
    scales = torch.zeros(W.shape[0], n // group_size, dtype=torch.float64)
    zeros = torch.zeros(W.shape[0], n // group_size, dtype=torch.int64)
    for j in range(n):
        g = j // group_size
        if j % group_size == 0:
            _, s, z = quantize_groupwise(W[:, j:j + group_size], bits, group_size)  # noqa: F821
            scales[:, g], zeros[:, g] = s[:, 0], z[:, 0]
        s, z = scales[:, g], zeros[:, g].double()
        q = torch.clamp(torch.round(W[:, j] / s) + z, 0, qmax)
        codes[:, j] = q.long()
        err = (W[:, j] - (q - z) * s) / U[j, j]
        W[:, j + 1:] -= err[:, None] * U[j, j + 1:][None, :]
    return codes, scales.to(w.dtype), zeros
