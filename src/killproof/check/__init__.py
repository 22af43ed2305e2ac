"""``killproof check``: Go source and deploy files read together."""
