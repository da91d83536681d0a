# expect: lose
# why: computes the ranking correctly but never validates: k = 0 quietly returns an empty list and an empty profile divides by zero.
def top_operators(events, k):
    totals = {}
    for name, t in events:
        totals[name] = totals.get(name, 0) + t
    whole = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:max(k, 0)]
    return [(name, t / whole) for name, t in ranked]
