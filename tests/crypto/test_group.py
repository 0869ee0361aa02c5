"""Group layer: identity handling and point validation (SPEC §3.1)."""

import hashlib

import pytest

from voting.crypto import group
from voting.crypto.group import G, IDENTITY, L, GroupError

# An order-8 point (RFC 8032 torsion), and G + that point (mixed order).
ORDER8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
ORDER2 = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")  # (0, -1)
G_HEX = "5866666666666666666666666666666666666666666666666666666666666666"


def test_generator_is_rfc8032_base_point():
    assert G.hex() == G_HEX
    assert IDENTITY.hex() == "01" + "00" * 31


def test_identity_is_explicit():
    assert group.base_mul(0) == IDENTITY
    assert group.base_mul(L) == IDENTITY
    assert group.mul(0, G) == IDENTITY
    assert group.mul(5, IDENTITY) == IDENTITY
    assert group.add(G, IDENTITY) == G
    assert group.sub(G, G) == IDENTITY
    assert group.add_all([]) == IDENTITY
    assert group.neg(IDENTITY) == IDENTITY


def test_arithmetic_is_consistent():
    assert group.base_mul(7) == group.mul(7, G) == group.add(group.base_mul(3), group.base_mul(4))
    assert group.base_mul(-1) == group.neg(G) == group.base_mul(L - 1)
    assert group.mul(3, group.base_mul(5)) == group.base_mul(15)


def test_validation_refuses_identity_small_and_mixed_order():
    mixed = group.add(G, ORDER8)
    assert group.is_valid(G)
    assert not group.is_valid(IDENTITY)
    assert group.is_valid(IDENTITY, allow_identity=True)
    assert not group.is_valid(ORDER8, allow_identity=True)
    assert not group.is_valid(ORDER2, allow_identity=True)
    assert not group.is_valid(mixed)
    with pytest.raises(GroupError, match="not a valid prime-order group element"):
        group.mul(3, mixed)
    with pytest.raises(GroupError, match="alpha: not a valid group element"):
        group.check_point(mixed, what="alpha")


def test_validation_refuses_non_canonical_encodings():
    # y = p (≡ 0) is not canonical; y = p + 1 would be the identity's non-canonical twin.
    p = 2**255 - 19
    non_canonical_identity = (p + 1).to_bytes(32, "little")
    assert not group.is_valid(non_canonical_identity, allow_identity=True)
    # identity with the sign bit set is not the identity's encoding
    assert not group.is_valid(b"\x01" + bytes(30) + b"\x80", allow_identity=True)
    # a y with no curve point
    bad = None
    for y in range(2, 100):
        cand = y.to_bytes(32, "little")
        if not group.is_valid(cand):
            bad = cand
            break
    assert bad is not None
    with pytest.raises(GroupError):
        group.point_from_hex(bad.hex())


def test_hex_parsing():
    assert group.point_from_hex(G_HEX) == G
    assert group.point_from_hex(IDENTITY.hex(), allow_identity=True) == IDENTITY
    with pytest.raises(GroupError, match="beta: not a valid group element"):
        group.point_from_hex(IDENTITY.hex(), what="beta")
    with pytest.raises(GroupError, match="64 lowercase hex"):
        group.point_from_hex(group.base_mul(2).hex().upper())
    with pytest.raises(GroupError, match="64 lowercase hex"):
        group.point_from_hex(G_HEX[:-2])
    with pytest.raises(GroupError, match="64 lowercase hex"):
        group.point_from_hex("zz" * 32)


def test_scalars():
    assert group.scalar_from_hex(group.scalar_to_hex(L - 1)) == L - 1
    assert group.scalar_to_hex(1) == "01" + "00" * 31
    with pytest.raises(GroupError, match="not reduced modulo ℓ"):
        group.scalar_from_hex(L.to_bytes(32, "little").hex())
    with pytest.raises(GroupError, match="64 lowercase hex"):
        group.scalar_from_hex("01")
    for _ in range(20):
        assert 0 < group.random_scalar() < L


def test_extra_generator_is_valid_and_label_bound():
    h = group.generator("x")
    assert h.hex() == "b91a41c8f5dafca8080405c4370faa9c804f67168eb0936ab2e224098def629d"
    assert group.is_valid(h)
    assert h != group.generator("y")
    assert hashlib.sha512(b"gongjue/v1/generator\x00x").digest()  # label domain is documented


def test_libsodium_behaviour_this_layer_absorbs():
    import nacl.bindings as b
    from nacl.exceptions import RuntimeError as NaclRuntimeError
    zero = bytes(32)
    with pytest.raises(NaclRuntimeError):
        b.crypto_scalarmult_ed25519_base_noclamp(zero)
    with pytest.raises(NaclRuntimeError):
        b.crypto_scalarmult_ed25519_noclamp(zero, G)
    with pytest.raises(NaclRuntimeError):
        b.crypto_scalarmult_ed25519_noclamp((5).to_bytes(32, "little"), IDENTITY)
    with pytest.raises(NaclRuntimeError):
        b.crypto_scalarmult_ed25519_noclamp((5).to_bytes(32, "little"), ORDER8)
    with pytest.raises(NaclRuntimeError):  # identity result: ℓ·G
        b.crypto_scalarmult_ed25519_base_noclamp(L.to_bytes(32, "little"))
    assert not b.crypto_core_ed25519_is_valid_point(IDENTITY)
    assert b.crypto_core_ed25519_add(G, IDENTITY) == G
    assert b.crypto_core_ed25519_sub(G, G) == IDENTITY
