"""Speed of the offline credential step: codes, key derivation and letters.html for N voters.

Prints figures, including the replay of the signed list into a registry; no thresholds.  Run: .venv/bin/python benchmarks/credential_letters.py [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.signing  # noqa: E402

from identity import authority, credential  # noqa: E402
from identity import letters as credential_letters  # noqa: E402
from ledger.entry import ParsedEntry  # noqa: E402


@dataclass(frozen=True)
class Part:
    building: str
    unit: str
    room: str


@dataclass(frozen=True)
class Voter:
    voter_id: str
    parts: tuple


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    voters = [Voter(f"V{i:06d}", (Part(str(i // 200 + 1), str(i // 100 % 2 + 1), str(i % 100 + 101)),))
              for i in range(n)]
    t = time.perf_counter()
    codes = [credential.generate_code() for _ in range(n)]
    t_codes = time.perf_counter() - t
    t = time.perf_counter()
    for code in codes:
        credential.public_key_hex(code, "gongjue.local/maple-court")
    t_keys = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        key = nacl.signing.SigningKey.generate()
        origin = "gongjue.local/maple-court"

        def sign(issued):
            return authority.sign_statement(authority.credentials_statement(
                origin, key.verify_key.encode().hex(), 1, [(c.voter_id, c.public_key) for c in issued]), key)

        files = credential_letters.write_credentials(Path(out), "枫林苑", origin, voters, sign=sign)
        t_all = time.perf_counter() - t
        size = files.letters.stat().st_size
        document = json.loads(files.credentials.read_text("utf-8"))
    entries = [ParsedEntry(0, "0" * 64, "estate", "", {"origin": origin}),
               ParsedEntry(1, "0" * 64, "authority", "", authority.authority_body("街道", "", key.verify_key.encode().hex())),
               ParsedEntry(2, "0" * 64, "credentials", "", document)]
    replay = {}
    for check_keys in (True, False):
        t = time.perf_counter()
        authority.registry_from_entries(entries, check_roll=False, check_keys=check_keys)
        replay[check_keys] = time.perf_counter() - t
    print(f"voters: {n}")
    print(f"generate_code:            {t_codes / n * 1e6:8.1f} µs per code")
    print(f"derive key (HKDF+Ed25519): {t_keys / n * 1e6:8.1f} µs per key")
    print(f"write_credentials:        {t_all:8.2f} s total, {t_all / n * 1e3:.2f} ms per letter, "
          f"letters.html {size / 1e6:.1f} MB")
    print(f"registry replay:          {replay[True]:8.3f} s with every key checked as a point (gongjue verify), "
          f"{replay[False]:.3f} s without (owner pages)")


if __name__ == "__main__":
    main()
