# expect: lose
# why: skips operators whose self time is zero, so a profile with fewer busy names than k returns too few rows.
def top_operators(events, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    totals = {}
    for name, t in events:
        if t < 0:
            raise ValueError("events holds a negative self time")
        if t > 0:
            totals[name] = totals.get(name, 0) + t
    whole = sum(totals.values())
    if whole <= 0:
        raise ValueError("events must have a positive total self time")
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [(name, t / whole) for name, t in ranked]
