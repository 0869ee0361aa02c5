"""RFC 6962 / RFC 9162 Merkle tree hashing over a stored-hash index, with proof generation.

Hashes (RFC 9162 §2.1.1): ``leaf_hash(d) = SHA-256(0x00 ‖ d)``,
``node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)``, and the root of the empty tree is ``SHA-256("")``.

Storage follows the layout of Go's ``golang.org/x/mod/sumdb/tlog``: every hash of a *complete*
subtree (level L, index n covers leaves [n·2^L, (n+1)·2^L)) gets one integer position,
``stored_hash_index(L, n)``, in an append-only sequence.  Appending leaf n appends its leaf hash
and the hashes of the subtrees it completes (``stored_hashes_for_leaf``).  A tree root, an
inclusion proof (RFC 9162 §2.1.3.1) or a consistency proof (§2.1.4.1) for any size then needs only
O(log n) stored hashes, read in one batch through a ``HashReader``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

HashReader = Callable[[Sequence[int]], list[bytes]]
"""Returns the stored hashes at the given indexes, in the same order."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH of a one-leaf tree: SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def stored_hash_index(level: int, n: int) -> int:
    """Position of the hash of the level-``level`` subtree number ``n`` in the stored sequence."""
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def stored_hash_count(size: int) -> int:
    """How many stored hashes a tree of ``size`` leaves has."""
    if size == 0:
        return 0
    count = stored_hash_index(0, size - 1) + 1
    i = size - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def stored_hashes_for_leaf(n: int, leaf: bytes, read: HashReader) -> list[bytes]:
    """The hashes to append to the stored sequence when leaf ``n`` (with hash ``leaf``) is added."""
    m = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(m))]
    old = read(indexes) if indexes else []
    hashes = [leaf]
    h = leaf
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


def tree_hash(size: int, read: HashReader) -> bytes:
    """MTH of the first ``size`` leaves (RFC 9162 §2.1.1)."""
    if size == 0:
        return EMPTY_ROOT
    indexes = _subtree_index(0, size, [])
    h, rest = _subtree_hash(0, size, read(indexes))
    assert not rest
    return h


def inclusion_proof(size: int, n: int, read: HashReader) -> list[bytes]:
    """PATH(n, D[size]) of RFC 9162 §2.1.3.1: the audit path of leaf ``n`` in a tree of ``size``."""
    if not 0 <= n < size:
        raise ValueError(f"leaf {n} is not in a tree of size {size}")
    indexes = _leaf_proof_index(0, size, n, [])
    if not indexes:
        return []
    proof, rest = _leaf_proof(0, size, n, read(indexes))
    assert not rest
    return proof


def consistency_proof(size2: int, size1: int, read: HashReader) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1, for 0 < size1 <= size2."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    indexes = _tree_proof_index(0, size2, size1, [])
    if not indexes:
        return []
    proof, rest = _tree_proof(0, size2, size1, read(indexes))
    assert not rest
    return proof


def compact_range_index(size: int) -> list[int]:
    """Stored indexes of the complete subtrees making up the first ``size`` leaves, largest first
    (what ``RootBuilder.resume`` continues from)."""
    return _subtree_index(0, size, [])


def root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH computed directly from leaf hashes (for tests and small trees)."""
    return RootBuilder.of(leaves).root()


class RootBuilder:
    """Streaming MTH: feed leaf hashes in order, read the root of the prefix at any time.

    Keeps the compact range (one hash per set bit of the size), so each leaf costs amortised one
    node hash and the root costs O(log n).
    """

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> RootBuilder:
        b = cls()
        for h in leaves:
            b.add(h)
        return b

    @classmethod
    def resume(cls, size: int, compact: list[bytes]) -> RootBuilder:
        """Continue the tree of ``size`` leaves from its compact range: the hashes of its complete
        subtrees, largest (leftmost) first, as ``compact_range_index(size)`` lists them."""
        b = cls()
        b.size, b._stack = size, list(compact)
        return b

    def add_stored(self, leaf: bytes) -> list[bytes]:
        """``add``, returning the hashes the stored sequence gets for this leaf (leaf first), i.e.
        ``stored_hashes_for_leaf`` without reading them back."""
        out = [leaf]
        stack, h, n = self._stack, leaf, self.size
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            out.append(h)
            n >>= 1
        stack.append(h)
        self.size += 1
        return out

    def add(self, leaf: bytes) -> None:
        stack = self._stack
        h = leaf
        n = self.size
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1


def _maxpow2(n: int) -> tuple[int, int]:
    """(k, l): k = 2^l, the largest power of two strictly less than n (n >= 2)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


def _subtree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    """Stored indexes of the complete subtrees that make up leaves [lo, hi)."""
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    """MTH of leaves [lo, hi) from the hashes _subtree_index listed; returns the unused rest."""
    count = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        lo += k
        count += 1
    h = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h, hashes[count:]


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _subtree_index(lo + k, hi, need)
    else:
        _subtree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if lo + 1 == hi:
        return [], hashes
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        proof, hashes = _leaf_proof(lo, lo + k, n, hashes)
        th, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        th, hashes = _subtree_hash(lo, lo + k, hashes)
        proof, hashes = _leaf_proof(lo + k, hi, n, hashes)
    proof.append(th)
    return proof, hashes


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if n == hi:
        return need if lo == 0 else _subtree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _subtree_index(lo + k, hi, need)
    else:
        _subtree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if n == hi:
        if lo == 0:
            return [], hashes
        th, hashes = _subtree_hash(lo, hi, hashes)
        return [th], hashes
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        proof, hashes = _tree_proof(lo, lo + k, n, hashes)
        th, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        th, hashes = _subtree_hash(lo, lo + k, hashes)
        proof, hashes = _tree_proof(lo + k, hi, n, hashes)
    proof.append(th)
    return proof, hashes
