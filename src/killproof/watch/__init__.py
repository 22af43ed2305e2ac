"""``killproof watch``: a flight recorder for a running service (captures before, a
post-mortem after an OOM kill)."""
