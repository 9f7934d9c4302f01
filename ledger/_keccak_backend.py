"""Choose eth-hash's keccak256 backend before anything hashes.

eth-hash takes pycryptodome when both it and safe-pysha3 are installed. safe-pysha3 (a
dependency, for the Merkle trees) hashes a 100-byte input in 1.1 µs here against 7.1 µs, and
every item id, EIP-712 digest, signature and event topic is a keccak256: a marketplace batch
of 1,000 listing checks makes 4,000. eth-hash reads ``ETH_HASH_BACKEND`` at its first hash,
so this module is imported first by ``ledger``; an operator's own setting wins.
"""

import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
