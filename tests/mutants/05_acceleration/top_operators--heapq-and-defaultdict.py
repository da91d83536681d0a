# expect: full
# why: a correct alternative: sums with a defaultdict and picks the k smallest (-time, name) keys with heapq, which is the same order.
import heapq
from collections import defaultdict


def top_operators(events, k):
    if k < 1:
        raise ValueError(f"k = {k}: k must be a positive number of operators")
    totals = defaultdict(float)
    for name, t in events:
        if t < 0:
            raise ValueError(f"events: negative self time {t} for {name}")
        totals[name] += t
    whole = sum(totals.values())
    if whole <= 0:
        raise ValueError("events is empty or its self times add up to zero")
    best = heapq.nsmallest(k, ((-t, name) for name, t in totals.items()))
    return [(name, float(-neg / whole)) for neg, name in best]
