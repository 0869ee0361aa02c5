"""Group layer: ristretto255 (RFC 9496), identity handling and point validation (SPEC §3.1)."""

import hashlib

import pytest

from voting.crypto import group
from voting.crypto.group import G, IDENTITY, L, GroupError

G_HEX = "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"
# RFC 9496 Appendix A.1: encodings of 2·G … 5·G.
MULTIPLES = {
    2: "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
    3: "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    4: "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    5: "e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
}
# RFC 9496 Appendix A.2 (bad encodings): non-canonical (≥ p), negative (odd), non-square x².
NON_CANONICAL = ["00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                 "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"]
NEGATIVE = "0100000000000000000000000000000000000000000000000000000000000000"
NON_SQUARE = "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371"
ED25519_G = "5866666666666666666666666666666666666666666666666666666666666666"  # the RFC 8032 encoding


def test_generator_is_the_ristretto255_base_point():
    assert G.hex() == G_HEX
    assert IDENTITY.hex() == "00" * 32
    for k, h in MULTIPLES.items():
        assert group.base_mul(k).hex() == h
        assert group.mul(k, G).hex() == h


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


def test_validation_refuses_identity_and_bad_encodings():
    assert group.is_valid(G)
    assert not group.is_valid(IDENTITY)
    assert group.is_valid(IDENTITY, allow_identity=True)
    for h in [*NON_CANONICAL, NEGATIVE, NON_SQUARE, ED25519_G]:
        raw = bytes.fromhex(h)
        assert not group.is_valid(raw, allow_identity=True), h
        with pytest.raises(GroupError, match="not a valid group element"):
            group.mul(3, raw)
        with pytest.raises(GroupError, match="alpha: not a valid group element"):
            group.check_point(raw, what="alpha")
    assert not group.is_valid(G[:31])
    assert not group.is_valid("not bytes")  # type: ignore[arg-type]


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
    assert h.hex() == "fc6353354f7956637fce902de371791c05b1861cc1b3693fa1df3e71993b7c50"
    assert group.is_valid(h)
    assert h != group.generator("y")
    assert hashlib.sha512(b"gongjue/v1/generator\x00x").digest()  # label domain is documented


def test_libsodium_behaviour_this_layer_absorbs():
    import ctypes

    from voting.crypto.group import _smul, _smul_base, _valid
    out = ctypes.create_string_buffer(32)
    zero = bytes(32)
    assert _smul_base(out, zero) != 0  # zero scalar: identity result refused
    assert _smul(out, zero, G) != 0
    assert _smul(out, (5).to_bytes(32, "little"), IDENTITY) != 0  # identity input
    assert _smul_base(out, L.to_bytes(32, "little")) != 0  # identity result: ℓ·G
    assert _valid(IDENTITY) == 1  # libsodium accepts the identity; is_valid decides
    assert group.add(G, IDENTITY) == G
    assert group.sub(G, G) == IDENTITY
