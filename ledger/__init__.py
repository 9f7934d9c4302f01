"""Veritag's ledger library: the chain, the registry client and GS1 identifiers. No web code."""

__all__: list[str] = []
