"""The proxy core: parse, decide through the hooks, answer from the cache, forward or tunnel, record."""
