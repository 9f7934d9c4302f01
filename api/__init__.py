"""Veritag's HTTP API (FastAPI). Imports ``ledger``; ``ledger`` never imports it."""

__all__: list[str] = []
