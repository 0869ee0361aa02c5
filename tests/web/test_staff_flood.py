"""A flood of wrong sign-ins from many addresses while the public reads the record (issue #8.2).

A real Uvicorn server on 127.0.0.1 (X-Forwarded-For trusted from there, as behind the site's
proxy).  Only correctness is asserted: every public GET answered 200, every sign-in answered
401, 429 or 503 (never another 5xx), and the flood checked no more passwords than the limits
allow.  Latencies are printed, never asserted (speed: benchmarks/signin_flood.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import httpx
import pytest

from identity import store
from identity.roll import read_roll
from ledger.db import transaction
from tests.web.conftest import add_staff
from tests.web.uvicorn_server import serving
from web import limits

ROLL = b"building,unit,room,area,owner\n1,1,101,88.50,A\n1,1,102,90,B\n"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
FLOODERS, ATTEMPTS = 4, 15
READERS, READS = 3, 40


@pytest.fixture
def server(engine, app):
    with transaction(engine) as session:
        store.import_roll(session, "maple-court", read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL, name="枫林苑")
    with serving(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as url:
        yield url


def test_public_reads_are_all_answered_during_a_flood_of_wrong_sign_ins(engine, server, checks):
    add_staff(engine)
    flood: Counter[int] = Counter()
    reads: Counter[tuple[str, int]] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(FLOODERS + READERS)

    def flooder(k: int) -> None:
        start.wait()
        for n in range(ATTEMPTS):
            address = f"10.9.{k}.{n}"
            with httpx.Client(base_url=server, timeout=60, headers={"x-forwarded-for": address}) as c:
                token = CSRF.search(c.get("/signin").text).group(1)
                name = "alice" if n % 2 == 0 else f"guess{k}-{n}"
                status = c.post("/signin", data={"csrf": token, "username": name, "password": "wrong"}).status_code
            with lock:
                flood[status] += 1

    def reader() -> None:
        start.wait()
        with httpx.Client(base_url=server, timeout=60) as c:
            for n in range(READS):
                path = "/estates/maple-court/audit/checkpoint" if n % 2 else "/estates/maple-court"
                began = time.perf_counter()
                status = c.get(path).status_code
                with lock:
                    latencies.append(time.perf_counter() - began)
                    reads[(path, status)] += 1

    threads = [threading.Thread(target=flooder, args=(k,)) for k in range(FLOODERS)]
    threads += [threading.Thread(target=reader) for _ in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert reads == {("/estates/maple-court/audit/checkpoint", 200): READERS * READS // 2,
                     ("/estates/maple-court", 200): READERS * READS // 2}
    assert sum(flood.values()) == FLOODERS * ATTEMPTS and set(flood) <= {401, 429, 503}
    assert checks["checked"] == flood[401]
    # made-up names: one guess per address each; the known account: at most its free tries
    assert flood[401] <= FLOODERS * ATTEMPTS // 2 + limits.ACCOUNT_FREE
    ordered = sorted(latencies)
    print(f"\npublic GETs during the flood: p50 {1000 * ordered[len(ordered) // 2]:.1f} ms, "
          f"max {1000 * ordered[-1]:.1f} ms; sign-ins {dict(flood)}")
