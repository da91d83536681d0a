# expect: lose
# why: no special case for a single symbol, which then gets a 0-bit code.
import heapq


def huffman_code_lengths(counts: dict) -> dict:
    if any(count < 0 for count in counts.values()):
        raise ValueError("counts must be >= 0 for every symbol")
    heap = [(count, tie, [symbol])
            for tie, (symbol, count) in enumerate(counts.items()) if count > 0]
    lengths = {group[0]: 0 for _, _, group in heap}
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        count_a, _, group_a = heapq.heappop(heap)
        count_b, _, group_b = heapq.heappop(heap)
        for symbol in group_a + group_b:
            lengths[symbol] += 1
        heapq.heappush(heap, (count_a + count_b, tie, group_a + group_b))
        tie += 1
    return lengths
