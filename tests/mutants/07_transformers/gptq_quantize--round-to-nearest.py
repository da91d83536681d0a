# expect: lose
# why: quantizes every column with round to nearest and never spreads the error: this is RTN, not GPTQ.
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
    return quantize_groupwise(w, bits, group_size)  # noqa: F821
