# expect: lose
# why: returns the right numbers by building the whole T x T score matrix, which the exercise forbids.
def online_softmax_attention(q, k, v, block_size):
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    return causal_attention(q, k, v)  # noqa: F821
