# expect: lose
# why: keeps zero-count symbols in the code (they should be omitted).
import heapq


def huffman_code_lengths(counts: dict) -> dict:
    if any(count < 0 for count in counts.values()):
        raise ValueError("counts must be >= 0 for every symbol")
    heap = [(count, tie, [symbol]) for tie, (symbol, count) in enumerate(counts.items())]
    if len(heap) == 1:
        return {heap[0][2][0]: 1}
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
