"""Verification of Merkle inclusion and consistency proofs, RFC 9162 §2.1.3.2 and §2.1.4.2.

Both functions raise ``ProofError`` (with an English reason) when the proof does not hold and
return None when it does.  They agree with every vector of transparency-dev/merkle's testdata,
including the mutated ones (``../shared/vectors/merkle/``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from ledger.tree import EMPTY_ROOT, HASH_SIZE


class ProofError(ValueError):
    """A Merkle proof that does not verify."""


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf ``index`` with hash ``leaf`` in a tree of ``size``.

    RFC 9162 §2.1.3.2 steps 1–5, without the final comparison.
    """
    if index < 0 or size <= 0 or index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash has {len(leaf)} bytes, want {HASH_SIZE}")
    _check_elements(proof)
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that leaf ``index`` with hash ``leaf`` is in the tree of ``size`` with ``root``."""
    got = root_from_inclusion_proof(index, size, leaf, proof)
    if not hmac.compare_digest(got, root):
        raise ProofError("inclusion proof leads to a different root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of the one of ``size2``/``root2``.

    RFC 9162 §2.1.4.2.  Equal sizes need an empty proof and equal roots.  A tree of size 0 is
    only accepted against itself with the empty-tree root: a "proof" from the empty tree proves
    nothing, so it is refused rather than accepted for any size.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError("negative tree size")
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if size1 == 0 and not (root1 == EMPTY_ROOT == root2):
            raise ProofError("a tree of size 0 has the empty-tree root")
        if not hmac.compare_digest(root1, root2):
            raise ProofError("sizes are equal but the roots differ")
        return
    if size1 == 0:
        raise ProofError("consistency with the empty tree proves nothing")
    if not proof:
        raise ProofError("empty consistency proof")
    _check_elements(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if not hmac.compare_digest(fr, root1):
        raise ProofError("consistency proof does not lead to root1")
    if not hmac.compare_digest(sr, root2):
        raise ProofError("consistency proof does not lead to root2")


def _check_elements(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof element {i} has {len(p)} bytes, want {HASH_SIZE}")
