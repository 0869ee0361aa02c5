"""What ``gongjue verify``'s outside-evidence check (ledger.evidence, SPEC §2.10) adds to a bundle's audit.

    .venv/bin/python benchmarks/evidence_bench.py BUNDLE_DIR_OR_ZIP [--tsa-roots PEM] [--repeat 3]

Prints the wall time of ``check_evidence`` without a witness key and with one (a fresh key: every
checkpoint file is read to look for its lines), the number of tokens and checkpoint files.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ledger import evidence, timestamp, verify  # noqa: F401 — imported before timing
from ledger.note import COSIGNATURE_V1, generate_signer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--tsa-roots", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    roots = timestamp.load_roots(args.tsa_roots) if args.tsa_roots else None
    witness = generate_signer("bench.example/w", COSIGNATURE_V1).verifier
    for label, keys in (("no witness key", []), ("one witness key", [witness])):
        best, found = None, None
        for _ in range(args.repeat):
            start = time.perf_counter()
            found = evidence.check_evidence(args.bundle, roots, keys)
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        print(f"{label}: {best * 1000:.1f} ms (best of {args.repeat}), tokens {len(found.tokens)}, "
              f"problems {len(found.problems)}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
