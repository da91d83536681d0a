# expect: lose
# why: ranks the records as they come, so an operator listed twice (two profiles) appears twice instead of once with its summed time.
def top_operators(events, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not events or any(t < 0 for _, t in events) or sum(t for _, t in events) <= 0:
        raise ValueError("events must hold non-negative times that add up to more than zero")
    whole = sum(t for _, t in events)
    ranked = sorted(events, key=lambda item: (-item[1], item[0]))
    return [(name, t / whole) for name, t in ranked[:k]]
