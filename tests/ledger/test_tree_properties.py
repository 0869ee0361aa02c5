"""Generator ↔ verifier for every tree size up to 1024 (stored-hash index vs RFC 9162 definitions)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from ledger import tree
from ledger.proof import ProofError, verify_consistency, verify_inclusion

N = 1024
LEAVES = [tree.leaf_hash(b"entry %d" % i) for i in range(N)]


def _stored() -> list[bytes]:
    hashes: list[bytes] = []
    for n, leaf in enumerate(LEAVES):
        hashes += tree.stored_hashes_for_leaf(n, leaf, lambda idx: [hashes[i] for i in idx])
    return hashes


STORED = _stored()


def read(indexes):
    return [STORED[i] for i in indexes]


def mth(leaves):
    """RFC 9162 §2.1.1 MTH, by the recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return tree.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, b):
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


ROOTS = [mth(LEAVES[:n]) for n in range(N + 1)]


def test_stored_hash_layout():
    assert len(STORED) == tree.stored_hash_count(N) == 2 * N - 1
    assert [tree.stored_hash_index(0, n) for n in range(6)] == [0, 1, 3, 4, 7, 8]
    assert [tree.stored_hash_index(1, n) for n in range(3)] == [2, 5, 9]
    assert tree.stored_hash_index(2, 0) == 6
    assert [tree.stored_hash_count(n) for n in range(1, 9)] == [1, 3, 4, 7, 8, 10, 11, 15]


def test_root_for_every_size():
    builder = tree.RootBuilder()
    assert tree.tree_hash(0, read) == builder.root() == tree.EMPTY_ROOT
    for n in range(1, N + 1):
        builder.add(LEAVES[n - 1])
        assert tree.tree_hash(n, read) == ROOTS[n] == builder.root(), n


@pytest.mark.parametrize("block", range(8))
def test_inclusion_for_every_size(block):
    """Every size 1…1024; every leaf for sizes ≤ 96, else first, last, middle and 5 spread leaves."""
    for n in range(1 + block * 128, 1 + (block + 1) * 128):
        seqs = range(n) if n <= 96 else sorted({0, n - 1, n // 2, *range(1, n, max(1, n // 5))})
        for m in seqs:
            proof = tree.inclusion_proof(n, m, read)
            assert proof == path(m, LEAVES[:n])
            verify_inclusion(m, n, LEAVES[m], proof, ROOTS[n])
            if proof:
                bad = proof[:-1] + [bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
                with pytest.raises(ProofError):
                    verify_inclusion(m, n, LEAVES[m], bad, ROOTS[n])
            with pytest.raises(ProofError):
                verify_inclusion(m, n, tree.leaf_hash(b"other"), proof, ROOTS[n])


@pytest.mark.parametrize("block", range(8))
def test_consistency_for_every_size(block):
    """Every size2 1…1024 against size1 ∈ {1, 2, 3, size2-1, size2, and 4 spread sizes}."""
    for n in range(1 + block * 128, 1 + (block + 1) * 128):
        for m in sorted({1, 2, 3, n - 1, n, *range(1, n, max(1, n // 4))} & set(range(1, n + 1))):
            proof = tree.consistency_proof(n, m, read)
            assert proof == subproof(m, LEAVES[:n], True)
            verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)
            if m < n:
                with pytest.raises(ProofError):
                    verify_consistency(m, n, ROOTS[m], ROOTS[n - 1] if n - 1 != m else ROOTS[0], proof)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, ROOTS[m], ROOTS[n], proof[:-1])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, N).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n), st.integers(0, n - 1))))
def test_random_proofs_verify(args):
    n, m, leaf = args
    verify_consistency(m, n, ROOTS[m], ROOTS[n], tree.consistency_proof(n, m, read))
    verify_inclusion(leaf, n, LEAVES[leaf], tree.inclusion_proof(n, leaf, read), ROOTS[n])
    flipped = bytes([ROOTS[n][0] ^ 0x80]) + ROOTS[n][1:]
    with pytest.raises(ProofError):
        verify_consistency(m, n, ROOTS[m], flipped, tree.consistency_proof(n, m, read))
    with pytest.raises(ProofError):
        verify_inclusion(leaf, n, LEAVES[leaf], tree.inclusion_proof(n, leaf, read), flipped)


@given(st.integers(min_value=0, max_value=70), st.integers(min_value=0, max_value=70))
def test_resumed_builder_gives_the_stored_hashes_and_roots(start, extra):
    """RootBuilder.resume + add_stored: the same stored hashes as stored_hashes_for_leaf, same roots."""
    leaves = [tree.leaf_hash(bytes([i])) for i in range(start + extra)]
    stored: list[bytes] = []
    read = lambda idx: [stored[i] for i in idx]  # noqa: E731
    for n, leaf in enumerate(leaves):
        stored += tree.stored_hashes_for_leaf(n, leaf, read)
    builder = tree.RootBuilder.resume(start, read(tree.compact_range_index(start)))
    assert builder.root() == tree.root_of_leaves(leaves[:start])
    for n in range(start, start + extra):
        got = builder.add_stored(leaves[n])
        assert got == stored[tree.stored_hash_index(0, n):tree.stored_hash_index(0, n + 1)]
        assert builder.root() == tree.root_of_leaves(leaves[:n + 1])
