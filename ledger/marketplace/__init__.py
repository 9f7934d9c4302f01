"""Marketplaces: seller address proofs (EIP-4361), listing checks and their signed decisions."""
