# expect: lose
# why: sorts descending and merges the two LARGEST counts, which is not an optimal code.


def huffman_code_lengths(counts: dict) -> dict:
    if any(count < 0 for count in counts.values()):
        raise ValueError("counts must be >= 0 for every symbol")
    groups = [(count, [symbol]) for symbol, count in counts.items() if count > 0]
    if len(groups) == 1:
        return {groups[0][1][0]: 1}
    lengths = {group[0]: 0 for _, group in groups}
    while len(groups) > 1:
        groups.sort(key=lambda g: g[0], reverse=True)
        (count_a, group_a), (count_b, group_b) = groups.pop(0), groups.pop(0)
        for symbol in group_a + group_b:
            lengths[symbol] += 1
        groups.append((count_a + count_b, group_a + group_b))
    return lengths
