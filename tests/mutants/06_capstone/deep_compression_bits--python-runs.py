# expect: full
# why: walking the weights with a Python loop to build the runs and padding entries is correct.
import math
from collections import Counter

from torch import nn


def deep_compression_bits(model: nn.Module, index_bits: int = 5, shared: bool = True,
                          huffman: bool = True) -> dict[str, int]:
    if index_bits < 1:
        raise ValueError(f"index_bits must be >= 1, got {index_bits}")
    span = 2**index_bits
    parts = {"values": 0, "positions": 0, "codebooks": 0, "huffman_tables": 0, "headers": 0,
             "biases": 0}

    def coded(symbols):
        counts = Counter(symbols)
        lengths = huffman_code_lengths(counts)  # noqa: F821
        return sum(counts[s] * lengths[s] for s in counts)

    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for weight in weights:
        parts["headers"] += 64
        runs, values, gap = [], [], 0
        for v in weight.detach().reshape(-1).tolist():
            if v == 0:
                gap += 1
                continue
            while gap >= span:
                runs.append(span - 1)
                values.append(0.0)
                gap -= span
            runs.append(gap)
            values.append(v)
            gap = 0
        if not values:
            continue
        parts["positions"] += coded(runs) if huffman else len(runs) * index_bits
        if huffman:
            parts["huffman_tables"] += 8 * span
        if not shared:
            parts["values"] += 32 * len(values)
            continue
        k = len(set(values))
        parts["codebooks"] += 32 * k
        if huffman:
            parts["values"] += coded(values)
            parts["huffman_tables"] += 8 * k
        else:
            parts["values"] += len(values) * max(1, math.ceil(math.log2(k)))
    weight_ids = {id(w) for w in weights}
    parts["biases"] = 32 * sum(p.numel() for p in model.parameters() if id(p) not in weight_ids)
    parts["total"] = sum(parts.values())
    return parts
