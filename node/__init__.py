"""A cluster node: replicated counter and key-value entities on casty, behind a Quart API."""
