"""HTTPS: the installation's certificate authority, leaf certificates made on demand,
the block page inside TLS and (opt-in per profile) inspection. See docs/https.md.

This package's __init__ imports nothing heavy: the configuration reads the shipped
bypass list from `guardian.tls.bypass` without loading `cryptography`.
"""
