"""The deterministic test scalar source (docs/SPEC.md §3.9), for cross-language test vectors.

scalar_i = int_le(SHA-512(b"gongjue/v1/test-drbg" ‖ seed ‖ i as 4-byte big-endian)) mod ℓ,
i = 0, 1, 2, …  Never used in production: production randomness is ``group.random_scalar``.
An instance is a zero-argument callable, the ``rand`` parameter of every prover.
"""

from __future__ import annotations

import hashlib

from voting.crypto.group import L

DRBG_TAG = b"gongjue/v1/test-drbg"


class TestDRBG:
    """Callable returning scalar_0, scalar_1, … for a fixed seed."""

    __test__ = False  # not a pytest test class

    def __init__(self, seed: bytes) -> None:
        self.seed = bytes(seed)
        self.counter = 0

    def __call__(self) -> int:
        i = self.counter
        self.counter += 1
        digest = hashlib.sha512(DRBG_TAG + self.seed + i.to_bytes(4, "big")).digest()
        return int.from_bytes(digest, "little") % L
