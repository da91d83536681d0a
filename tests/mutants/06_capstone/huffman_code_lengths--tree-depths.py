# expect: full
# why: building the tree with parent links and reading each leaf's depth is a correct Huffman code.
import heapq
import itertools


def huffman_code_lengths(counts: dict) -> dict:
    for symbol, count in counts.items():
        if count < 0:
            raise ValueError(f"counts: symbol {symbol!r} has a negative count {count}")
    leaves = [symbol for symbol, count in counts.items() if count > 0]
    if len(leaves) <= 1:
        return dict.fromkeys(leaves, 1)
    order = itertools.count()
    parent = {}
    heap = [(counts[s], next(order), ("leaf", s)) for s in leaves]
    heapq.heapify(heap)
    while len(heap) > 1:
        weight_a, _, a = heapq.heappop(heap)
        weight_b, _, b = heapq.heappop(heap)
        node = ("node", next(order))
        parent[a] = parent[b] = node
        heapq.heappush(heap, (weight_a + weight_b, next(order), node))

    def depth(node):
        d = 0
        while node in parent:
            node, d = parent[node], d + 1
        return d

    return {s: depth(("leaf", s)) for s in leaves}
