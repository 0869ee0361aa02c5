"""ElectionGuard 1.4.0 side of ``benchmarks/crypto_bench.py --electionguard PYTHON``.

Run by the Python of a separate virtual environment where ``electionguard==1.4.0`` is installed
(never in the project's environment; no ElectionGuard code is in this repository).  Encrypts and
verifies one ballot of the same shape as ours — one contest, 3 options, choose exactly 1 — and
prints one JSON object: medians of wall time and of process CPU time, in ms.

    /tmp/egvenv/bin/python benchmarks/electionguard_driver.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from datetime import datetime

from electionguard.ballot import (
    PlaintextBallot,
    PlaintextBallotContest,
    PlaintextBallotSelection,
)
from electionguard.elgamal import elgamal_keypair_from_secret
from electionguard.encrypt import encrypt_ballot
from electionguard.group import ONE_MOD_Q, TWO_MOD_Q, int_to_q
from electionguard.manifest import (
    BallotStyle,
    Candidate,
    CandidateContestDescription,
    ElectionType,
    GeopoliticalUnit,
    Manifest,
    ReportingUnitType,
    SelectionDescription,
    SpecVersion,
    VoteVariationType,
)
from electionguard_tools.helpers.election_builder import ElectionBuilder


def manifest() -> Manifest:
    gp = "estate"
    style = BallotStyle("style")
    style.geopolitical_unit_ids = [gp]
    selections = [SelectionDescription(f"option-{i}", i, f"candidate-{i}") for i in range(3)]
    contest = CandidateContestDescription("q1", 0, gp, VoteVariationType.one_of_m, 1, 1, "q1", selections)
    return Manifest(spec_version=SpecVersion.EG0_95, election_scope_id="bench", type=ElectionType.unknown,
                    start_date=datetime.now(), end_date=datetime.now(),
                    geopolitical_units=[GeopoliticalUnit(gp, gp, ReportingUnitType.unknown)], parties=[],
                    candidates=[Candidate(f"candidate-{i}") for i in range(3)], contests=[contest],
                    ballot_styles=[style])


def median(fn, repeat: int, clock) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # ElectionGuard logs every nonce at INFO: not part of the work measured
    keypair = elgamal_keypair_from_secret(int_to_q(123456789))
    builder = ElectionBuilder(number_of_guardians=1, quorum=1, manifest=manifest())
    builder.set_public_key(keypair.public_key)
    builder.set_commitment_hash(TWO_MOD_Q)
    internal, context = builder.build()
    plain = PlaintextBallot("ballot-1", "style", [PlaintextBallotContest("q1", [
        PlaintextBallotSelection("option-1", 1, 1)])])

    def encrypt():
        return encrypt_ballot(plain, internal, context, ONE_MOD_Q, should_verify_proofs=False)

    encrypted = encrypt()
    assert encrypted is not None

    def verify():
        ok = encrypted.is_valid_encryption(internal.manifest_hash, keypair.public_key,
                                           context.crypto_extended_base_hash)
        assert ok

    out = {"electionguard": "1.4.0",
           "selections_encrypted": sum(len(c.ballot_selections) for c in encrypted.contests),
           "encrypt_ms": median(encrypt, args.repeat, time.perf_counter),
           "encrypt_cpu_ms": median(encrypt, args.repeat, time.process_time),
           "verify_ms": median(verify, args.repeat, time.perf_counter),
           "verify_cpu_ms": median(verify, args.repeat, time.process_time)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
