# expect: lose
# why: sorts on the time only, so tied operators keep their order of first appearance instead of alphabetical order.
def top_operators(events, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    totals = {}
    for name, t in events:
        if t < 0:
            raise ValueError("events holds a negative self time")
        totals[name] = totals.get(name, 0) + t
    whole = sum(totals.values())
    if not totals or whole <= 0:
        raise ValueError("events must have a positive total self time")
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:k]
    return [(name, t / whole) for name, t in ranked]
