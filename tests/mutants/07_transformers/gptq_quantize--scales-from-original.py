# expect: lose
# why: computes every group's scale and zero point from the original weights up front, ignoring the updates earlier columns made.
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
    H = hessian.detach().double() + damp * hessian.detach().double().diagonal().mean() * torch.eye(n, dtype=torch.float64)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    _, scales, zeros = quantize_groupwise(W, bits, group_size)  # noqa: F821
    qmax = 2 ** bits - 1
    codes = torch.zeros(W.shape, dtype=torch.int64)
    for j in range(n):
        s, z = scales[:, j // group_size], zeros[:, j // group_size].double()
        q = torch.clamp(torch.round(W[:, j] / s) + z, 0, qmax)
        codes[:, j] = q.long()
        err = (W[:, j] - (q - z) * s) / U[j, j]
        W[:, j + 1:] -= err[:, None] * U[j, j + 1:][None, :]
    return codes, scales.to(w.dtype), zeros
