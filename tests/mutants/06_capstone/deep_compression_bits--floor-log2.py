# expect: lose
# why: a fixed-length index needs ceil(log2 K) bits; int(log2 K) rounds down when K is not a power of 2.
import math
from collections import Counter

import torch
from torch import nn


def deep_compression_bits(model: nn.Module, index_bits: int = 5, shared: bool = True,
                          huffman: bool = True) -> dict[str, int]:
    if index_bits < 1:
        raise ValueError(f"index_bits must be >= 1, got {index_bits}")
    span = 2**index_bits
    parts = dict.fromkeys(["values", "positions", "codebooks", "huffman_tables", "headers",
                           "biases"], 0)

    def huffman_bits(symbols):
        counts = Counter(symbols)
        lengths = huffman_code_lengths(counts)  # noqa: F821
        return sum(counts[s] * lengths[s] for s in counts)

    weight_ids = set()
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        weight_ids.add(id(module.weight))
        flat = module.weight.detach().flatten()
        positions = torch.nonzero(flat).flatten()
        runs = torch.diff(positions, prepend=torch.tensor([-1])) - 1
        fillers = int((runs // span).sum())
        stored_runs = (runs % span).tolist() + [span - 1] * fillers
        values = flat[positions].tolist() + [0.0] * fillers
        entries, distinct = len(values), len(set(values))
        parts["headers"] += 64
        if entries == 0:
            continue
        if huffman:
            parts["positions"] += huffman_bits(stored_runs)
            parts["huffman_tables"] += 8 * span
        else:
            parts["positions"] += entries * index_bits
        if not shared:
            parts["values"] += 32 * entries
            continue
        parts["codebooks"] += 32 * distinct
        if huffman:
            parts["values"] += huffman_bits(values)
            parts["huffman_tables"] += 8 * distinct
        else:
            parts["values"] += entries * max(1, int(math.log2(distinct)))
    parts["biases"] = 32 * sum(p.numel() for p in model.parameters() if id(p) not in weight_ids)
    parts["total"] = sum(parts.values())
    return parts
