"""Ballot cryptography of Gongjue (docs/SPEC.md §3).

Two layers, in the manner of pyca/cryptography's "recipes" and "hazmat":

**Safe API** — what the rounds, tally and audit code call.  Every function that accepts data
from outside checks it completely and returns a *verified* object; the functions that count or
decrypt accept only those objects, so a caller cannot forget a check:

- ``ballot.encrypt_ballot`` / ``ballot.make_open_ballot`` build signed ballots;
  ``ballot.verify_ballot`` -> ``VerifiedBallot`` and ``ballot.verify_open_ballot`` ->
  ``VerifiedOpenBallot`` (``BallotError`` names the item, selection and reason);
  ``ballot.tracking_code``; ``ballot.check_reveal`` (Benaloh audit); ``ballot.verify_ballots``
  verifies many ballots over every core (audit), returning a VerifiedBallot or BallotError each;
  ``ballot.verify_ballot_text`` verifies a ballot as received: strict JSON text (``strictjson``),
  the kind pinned to the round's secrecy, signatures and keys by the one Ed25519 rule
  (``ed25519``, SPEC §3.6); ``ballot.round_fingerprint`` (SPEC §3.6).
- ``tally.tally_secret(list[(VerifiedBallot, weight)])`` -> ``Aggregates`` (heads and area
  ciphertexts); ``tally.tally_open(list[(VerifiedOpenBallot, weight)])`` -> plaintext counts.
- ``trustee.generate_key`` / ``trustee.verify_public_key`` -> ``VerifiedTrusteeKey``;
  ``trustee.trustee_set`` (n-of-n) or ``dkg.trustee_set`` (k-of-n, from
  ``dkg.verify_commitments`` -> ``VerifiedCommitments``) -> ``TrusteeSet``;
  ``dkg.seal_share`` / ``dkg.open_share`` (shares signed by their dealer; a forged share blames
  nobody, ``DKGError.dealer``); ``trustee.compute_shares``; ``trustee.verify_shares`` -> ``VerifiedShares``;
  ``trustee.combine(aggregates, list[VerifiedShares])`` -> decrypted totals.

The ``Verified*`` classes refuse construction outside their verify function.

**Primitive layer** ("hazmat") — building blocks with no policy, for the layer above, test
vectors and independent verifiers: ``group`` (ristretto255 points, scalars, libsodium), ``transcript``
(Fiat–Shamir challenge), ``elgamal``, ``chaum_pedersen`` (bit, count, share proofs),
``schnorr``, ``dlog`` (baby-step giant-step), ``drbg`` (deterministic test scalars).  A
``verify_*`` function here checks one equation, not a whole ballot.

Every prover takes ``rand``, a zero-argument scalar source: ``None`` means production
randomness (64 bytes of OS randomness reduced mod ℓ), ``drbg.TestDRBG(seed)`` gives the
cross-language test vectors with the draw order of SPEC §3.9.
"""
