# expect: lose
# why: divides by the total of the k operators returned instead of the whole profile, so the shares always add up to one.
def top_operators(events, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    totals = {}
    for name, t in events:
        if t < 0:
            raise ValueError("events holds a negative self time")
        totals[name] = totals.get(name, 0) + t
    if not totals or sum(totals.values()) <= 0:
        raise ValueError("events must have a positive total self time")
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:k]
    shown = sum(t for _, t in ranked)
    return [(name, t / shown) for name, t in ranked]
