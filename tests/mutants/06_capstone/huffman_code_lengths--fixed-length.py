# expect: lose
# why: gives every symbol ceil(log2(K)) bits, a fixed-length code, not the optimal variable-length one.
import math


def huffman_code_lengths(counts: dict) -> dict:
    if any(count < 0 for count in counts.values()):
        raise ValueError("counts must be >= 0 for every symbol")
    symbols = [s for s, c in counts.items() if c > 0]
    bits = max(1, math.ceil(math.log2(len(symbols)))) if symbols else 0
    return dict.fromkeys(symbols, bits)
