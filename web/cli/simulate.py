"""``gongjue simulate``: a scripted election through the real HTTP API (issue #9 part 9).

    gongjue simulate --voters N [--secret|--open] [--items motion,choice,election] [--seed S]
                     [--estate SLUG] --out DIR

On the database of ``GONGJUE_DATABASE_URL``:

1. a realistic estate — buildings of 2–3 stairwells (单元) and 6–18 floors, two to four flats a
   floor of realistic areas (floor plans of 60–145 m² with survey noise), a developer holding
   the unsold flats (one owner id, no phone), owners with two or three flats, some owners who do
   not vote, phones for the others — imported from its roll CSV like ``gongjue import-roll``;
2. a credential authority (key from the seed) recording every voter's credential key;
3. for a secret round two trustees (n-of-n), then a round announced with the agenda eight days
   ago (a short notice reason; candidates published seven days before voting opens), open since
   an hour ago and closing in a day;
4. N owners sign in over HTTP (``/estates/<slug>/owner``: building, stairwell and room, then the
   SMS code the file gateway of ``GONGJUE_SMS_GATEWAY`` delivered — a private temporary
   directory when unset) and cast a ballot with random choices through
   ``POST /api/v1/estates/<slug>/rounds/<id>/ballots``, each from its own client address;
5. the round is closed (as the scheduler does once the window has passed: the close is dated
   at the window's end), the trustees decrypt from the exported bundle and submit their shares,
   the result is recorded;
6. the bundle is exported to DIR, with ``DIR/truth/roll.csv``, ``DIR/truth/agenda.json`` and
   ``DIR/truth/ballots.csv`` (the roll and the plaintexts the owners chose, in the offline
   tally formats of docs/formats.md) and ``DIR/result.json`` (the published result, in the
   ``gongjue tally --json`` shape).  ``gongjue tally --roll DIR/truth/roll.csv --agenda
   DIR/truth/agenda.json --ballots DIR/truth/ballots.csv --json`` recounts it; ``gongjue verify
   DIR`` checks the whole record.

Everything is a function of the seed except the keys the server draws (log key, salts, nonces).

``--fast`` (for audit benchmarks of 10,000 voters and more): step 4 without the browser — the
ballots are encrypted and signed in worker processes (every core) while each is cast in this
process through ``voting.cast.cast`` for the owner's voter with the "sms" factor, exactly the call
the ballot API makes after the sign-in.  The record is the same kind of record: every ballot
verified and appended with its own checkpoint by the server code, then closed, counted and
exported as above (``gongjue verify`` checks it in full); only the HTTP sign-in is left out.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROUND_ID = "sim"
MATTERS = ("hire_manager", "use_maintenance_fund", "rules_of_procedure", "rebuild", "change_common_use",
           "management_statute", "raise_maintenance_fund", "other_major")
PLANS = (6050, 7240, 8950, 9780, 10820, 12675, 14330)  # floor plans, 0.01 m²
CODE_RE = re.compile(r"(\d{6})")
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("simulate", help="模拟一次完整表决 / scripted election through the HTTP API",
                       description="Create a realistic estate, credentials, trustees and a round on the database "
                                   "of GONGJUE_DATABASE_URL; N owners sign in with an SMS code and cast random "
                                   "ballots over HTTP; close, count and export the bundle to DIR with DIR/truth/ "
                                   "(roll, agenda, ballots in the offline tally formats) and DIR/result.json.")
    p.add_argument("--voters", type=int, required=True, metavar="N", help="owners who cast a ballot")
    secrecy = p.add_mutually_exclusive_group()
    secrecy.add_argument("--secret", dest="secrecy", action="store_const", const="secret",
                         help="secret round (default): encrypted ballots, two trustees")
    secrecy.add_argument("--open", dest="secrecy", action="store_const", const="open", help="open (named) round")
    p.set_defaults(secrecy="secret")
    p.add_argument("--items", default="motion,motion", metavar="KINDS",
                   help="agenda items in order, comma-separated: motion, choice, election (default motion,motion)")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--estate", metavar="SLUG", help="estate slug (default sim-<seed>); must not exist yet")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--fast", action="store_true",
                   help="cast in-process through voting.cast.cast (no HTTP sign-in), ballots made on every core")
    p.set_defaults(handler=run)


# --- the estate ------------------------------------------------------------------------------


@dataclass
class Flat:
    building: str
    unit: str
    room: str
    area: int  # 0.01 m²
    owner: str = ""


@dataclass
class Estate:
    flats: list[Flat]
    phones: dict[str, str]  # owner id → phone (voting owners and non-voters; not the developer)
    voters: list[str]  # owner ids who cast, in casting order
    developer: str = "DEV"
    owners: list[str] = field(default_factory=list)


def make_estate(n: int, rng: random.Random) -> Estate:
    """Owners: n who vote, about 12 % who do not, one developer; about 9 % own two flats, 2 % three."""
    abstainers = max(1, round(n * 0.12))
    owners = [f"M{i:05d}" for i in range(1, n + abstainers + 1)]
    holdings = [3 if (r := rng.random()) < 0.02 else 2 if r < 0.11 else 1 for _ in owners]
    needed = sum(holdings)
    developer_flats = max(1, round(needed * 0.04))
    flats: list[Flat] = []
    b = 0
    while len(flats) < needed + developer_flats:
        b += 1
        units, floors, per_floor = rng.choice((2, 2, 3)), rng.randint(6, 18), rng.choice((2, 2, 3, 4))
        plans = rng.sample(PLANS, per_floor)
        for u in range(1, units + 1):
            for floor in range(1, floors + 1):
                for k in range(per_floor):
                    area = plans[k] + rng.randint(-40, 40)  # survey noise of ±0.4 m²
                    flats.append(Flat(str(b), str(u), f"{floor}{k + 1:02d}", area))
    rng.shuffle(flats)
    flats = flats[:needed + developer_flats]
    at = 0
    for owner, count in zip(owners, holdings):
        for flat in flats[at:at + count]:
            flat.owner = owner
        at += count
    for flat in flats[at:]:
        flat.owner = "DEV"
    flats.sort(key=lambda f: (int(f.building), int(f.unit), int(f.room)))
    phones, used = {}, set()
    for owner in owners:
        while (phone := f"13{rng.randrange(10**9):09d}") in used:
            pass
        used.add(phone)
        phones[owner] = phone
    voters = rng.sample(owners, n)
    return Estate(flats, phones, voters, owners=owners)


def roll_csv(estate: Estate, *, phones: bool) -> bytes:
    """The roll in the ROLL.csv format (docs/formats.md); with the phone column for the import only."""
    from identity.csvfile import write_csv

    header = ["building", "unit", "room", "area", "owner", "developer_held"] + (["phone"] if phones else [])
    rows = []
    for f in estate.flats:
        row = [f.building, f.unit, f.room, f"{f.area // 100}.{f.area % 100:02d}", f.owner,
               "yes" if f.owner == estate.developer else "no"]
        if phones:
            row.append(estate.phones.get(f.owner, ""))
        rows.append(row)
    return write_csv(header, rows)


# --- the agenda and the choices ----------------------------------------------------------------


def make_agenda(kinds: list[str]) -> dict:
    items, motions = [], 0
    for i, kind in enumerate(kinds, start=1):
        if kind == "motion":
            items.append({"id": f"m{i}", "kind": "motion", "matter": MATTERS[motions % len(MATTERS)]})
            motions += 1
        elif kind == "choice":
            items.append({"id": f"c{i}", "kind": "choice", "matter": "hire_manager",
                          "options": ["greenleaf", "harbour", "none"]})
        elif kind == "election":
            items.append({"id": f"e{i}", "kind": "election", "matter": "elect_committee", "seats": 2,
                          "candidates": ["C1", "C2", "C3", "C4"], "rank_by": "heads"})
        else:
            raise ValueError(f"--items: unknown kind {kind!r} (motion, choice or election)")
    return {"rules": "civil-code-2021", "items": items}


def choose(agenda: dict, rng: random.Random, leanings: list) -> tuple[dict[str, list[int]], dict[str, str]]:
    """(selections per item id, the BALLOTS.csv word per item id) of one owner's random ballot."""
    sel, words = {}, {}
    for item, lean in zip(agenda["items"], leanings):
        if item["kind"] == "motion":
            mark = rng.choices(range(3), weights=lean)[0]
            sel[item["id"]] = [int(mark == k) for k in range(3)]
            words[item["id"]] = ("agree", "oppose", "abstain")[mark]
        elif item["kind"] == "choice":
            k = rng.choices(range(len(item["options"])), weights=lean)[0]
            sel[item["id"]] = [int(j == k) for j in range(len(item["options"]))]
            words[item["id"]] = item["options"][k]
        else:
            picked = [c for c, p in zip(item["candidates"], lean) if rng.random() < p][:item["seats"]]
            sel[item["id"]] = [int(c in picked) for c in item["candidates"]]
            words[item["id"]] = ";".join(picked)
    return sel, words


def leanings(agenda: dict, rng: random.Random) -> list:
    out = []
    for item in agenda["items"]:
        if item["kind"] == "motion":
            agree = rng.uniform(0.45, 0.9)
            out.append([agree, (1 - agree) * 0.7, (1 - agree) * 0.3])
        elif item["kind"] == "choice":
            out.append([rng.uniform(1, 5) for _ in item["options"]])
        else:
            out.append([rng.uniform(0.2, 0.8) for _ in item["candidates"]])
    return out


# --- the run ---------------------------------------------------------------------------------


def _key(seed: int, what: str):  # noqa: ANN202
    import nacl.signing

    return nacl.signing.SigningKey(hashlib.sha256(f"gongjue simulate {seed} {what}".encode()).digest())


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulationError(RuntimeError):
    """A step of the simulation the server refused (the message says which and why)."""


def _sms_code(directory: Path, phone: str) -> str:
    for path in sorted(directory.glob("*.json")):
        try:
            msg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if msg.get("to") == phone:
            path.unlink()
            found = CODE_RE.search(msg.get("text", ""))
            if found:
                return found.group(1)
    raise SimulationError(f"no SMS code for {phone[:3]}****{phone[-4:]} in {directory}")


def owner_sign_in(client, slug: str, flat: Flat, phone: str, sms_dir: Path) -> None:
    """Sign an owner in on ``client`` (a TestClient or any httpx client of the server): the flat,
    then the SMS code the file gateway delivered; the owner session cookie stays on ``client``."""
    page = client.get(f"/estates/{slug}/owner")
    csrf = CSRF_RE.search(page.text)
    if page.status_code != 200 or csrf is None:
        raise SimulationError(f"owner sign-in page: HTTP {page.status_code}")
    r = client.post(f"/estates/{slug}/owner/identify",
                    data={"csrf": csrf.group(1), "building": flat.building, "unit": flat.unit, "room": flat.room})
    if r.status_code != 303:
        raise SimulationError(f"identify {flat.building}-{flat.unit}-{flat.room}: HTTP {r.status_code}")
    page = client.get(f"/estates/{slug}/owner/verify")
    csrf = CSRF_RE.search(page.text)
    if csrf is None:
        raise SimulationError(f"verify page: HTTP {page.status_code}")
    r = client.post(f"/estates/{slug}/owner/verify", data={"csrf": csrf.group(1), "secret": _sms_code(sms_dir, phone)})
    if r.status_code != 303:
        raise SimulationError(f"verify code: HTTP {r.status_code}")


def cast_over_http(app, slug: str, flat: Flat, phone: str, text: str, sms_dir: Path, address: str) -> dict:  # noqa: ANN001
    """One owner's browser: sign in with the SMS code, then cast; returns the receipt."""
    from fastapi.testclient import TestClient

    client = TestClient(app, follow_redirects=False, client=(address, 50000))
    owner_sign_in(client, slug, flat, phone, sms_dir)
    r = client.post(f"/api/v1/estates/{slug}/rounds/{ROUND_ID}/ballots", content=text.encode(),
                    headers={"content-type": "application/json"})
    if r.status_code != 201:
        raise SimulationError(f"cast: HTTP {r.status_code}: {r.text[:300]}")
    client.close()
    return r.json()


_BALLOT_JOB: dict = {}
"""What the forked ballot makers of ``--fast`` need: round view fields, secrecy, seed (set before the fork)."""


def _make_ballot(job: tuple[str, dict]) -> str:
    """The signed ballot text of one owner (``--fast``: runs in a worker process)."""
    from voting import cast
    from voting.crypto import ballot as ballots_

    owner, sel = job
    j = _BALLOT_JOB
    sk = _key(j["seed"], f"credential {owner}")
    if j["secrecy"] == "secret":
        signed, _ = ballots_.encrypt_ballot(fingerprint=j["fingerprint"], joint_key=j["joint_key"], items=j["items"],
                                            choices=sel, signing_key=sk)
    else:
        signed = ballots_.make_open_ballot(fingerprint=j["fingerprint"], items=j["items"], choices=sel, signing_key=sk)
    return cast.dumps(signed)


def _cast_fast(engine, slug: str, view, secrecy: str, seed: int, jobs: list[tuple[str, dict]],  # noqa: ANN001
               voter_of: dict[str, str], progress, started: float) -> None:  # noqa: ANN001
    """``--fast`` step 4: ballots made on every core, each cast here through ``voting.cast.cast``."""
    import multiprocessing

    from voting import cast

    _BALLOT_JOB.update(seed=seed, secrecy=secrecy, fingerprint=view.fingerprint, joint_key=view.joint_key,
                       items=view.items)
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for i, ((owner, _), text) in enumerate(zip(jobs, pool.imap(_make_ballot, jobs, chunksize=8))):
            cast.cast(engine, slug, ROUND_ID, text, voter=voter_of[owner], factor="sms")
            if progress:
                progress(i + 1, len(jobs), time.monotonic() - started)


def simulate(engine, *, voters: int, secrecy: str, kinds: list[str], seed: int, slug: str, out: Path,  # noqa: ANN001, C901
             progress=None, fast: bool = False) -> dict:  # noqa: ANN001
    """Run the whole simulation (see the module docstring); returns the published result."""
    from identity import authority, store
    from identity.csvfile import write_csv
    from identity.roll import read_roll
    from ledger import bundle, checkpoint, keys
    from ledger.db import reading, transaction
    from voting import candidates, cast, count_round, rounds, trustee_check
    from voting.crypto import ballot as ballots_
    from voting.crypto import trustee
    from web.app import create_app

    rng = random.Random(seed)
    estate = make_estate(voters, rng)
    agenda = make_agenda(kinds)
    with reading(engine) as s:
        if store.get_estate(s, slug) is not None:
            raise SimulationError(f"小区 {slug} 已存在 / estate {slug} already exists: choose another --estate")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise SimulationError(f"{out} 不是空目录 / {out} is not empty")
    # 1. the estate, imported like `gongjue import-roll`
    data = roll_csv(estate, phones=True)
    store.import_roll_file(engine, slug, read_roll(data, "roll.csv"), filename="roll.csv", data=data,
                           name=f"模拟小区 {seed} / simulated estate {seed}")
    # 2. the credential authority and every voter's key
    authority_key = _key(seed, "authority")
    pk = authority_key.verify_key.encode().hex()
    places = {}
    for f in estate.flats:
        places.setdefault(f.owner, f)
    with transaction(engine) as s:
        origin = store.get_estate(s, slug).origin
        pseudonym = {o: store.voter_for_part(s, slug, f.building, f.unit, f.room) for o, f in places.items()}
        authority.record_authority(s, slug, "模拟街道办 / simulated street office", "", pk)
        pairs = [(pseudonym[o], _key(seed, f"credential {o}").verify_key.encode().hex()) for o in estate.owners]
        authority.record_statement(s, slug, authority.sign_statement(
            authority.credentials_statement(origin, pk, 1, pairs), authority_key))
    # 3. trustees and the round, open now, closing in a day
    secrets = {1: rng.randrange(1, 2**250), 2: rng.randrange(1, 2**250)} if secrecy == "secret" else {}
    context = f"{origin}/{ROUND_ID}"
    trustees = ({"threshold": None, "keys": [trustee.public_key_json(sec, j, context=context)
                                             for j, sec in secrets.items()]} if secrets else None)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(days=8)  # announced 8 days ago: candidates published ≥ 7 days before voting opens
    closes = now + timedelta(days=1)
    spec = {"round": ROUND_ID, "secrecy": secrecy, "agenda": agenda, "opens": _fmt(now - timedelta(hours=1)),
            "closes": _fmt(closes), "short_notice_reason": "模拟 / simulation", "trustees": trustees,
            "policies": {"duplicate": "first", "revote": False, "proxy_cap": None, "deemed_consent": False}}
    with transaction(engine) as s:
        rounds.create_draft(s, slug, spec, by="simulate", now=t0)
        for item in agenda["items"]:  # the organiser nominates every candidate; each is vetted
            for c in item.get("candidates", ()):
                candidates.nominate(s, slug, ROUND_ID, item=item["id"], candidate=c, nominated_by="organiser",
                                    statement=f"候选人 {c} 的自我介绍 / statement of candidate {c}", by="simulate",
                                    now=t0)
                candidates.vet(s, slug, ROUND_ID, item=item["id"], candidate=c, status="approved",
                               note="资格审核通过 / eligible", by="simulate", now=t0)
        rounds.announce(s, slug, ROUND_ID, by="simulate", now=t0)
    with reading(engine) as s:
        view = rounds.load(s, slug, ROUND_ID)
    # 4. the owners cast over HTTP, the second factor through the file SMS gateway
    app = create_app(engine)
    gateway = os.environ.get("GONGJUE_SMS_GATEWAY", "")
    tmp = None
    if not gateway.startswith("file:"):
        tmp = tempfile.TemporaryDirectory(prefix="gongjue-sms-")
        os.environ["GONGJUE_SMS_GATEWAY"] = f"file:{tmp.name}"
    sms_dir = Path(os.environ["GONGJUE_SMS_GATEWAY"][5:])
    lean = leanings(agenda, rng)
    truth = []
    started = time.monotonic()
    try:
        if fast:
            jobs = []
            for owner in estate.voters:
                sel, words = choose(agenda, rng, lean)
                jobs.append((owner, sel))
                truth.append([owner] + [words[it["id"]] for it in agenda["items"]])
            _cast_fast(engine, slug, view, secrecy, seed, jobs, pseudonym, progress, started)
        for i, owner in enumerate(estate.voters if not fast else ()):
            sel, words = choose(agenda, rng, lean)
            sk = _key(seed, f"credential {owner}")
            if secrecy == "secret":
                signed, _ = ballots_.encrypt_ballot(fingerprint=view.fingerprint, joint_key=view.joint_key,
                                                    items=view.items, choices=sel, signing_key=sk)
            else:
                signed = ballots_.make_open_ballot(fingerprint=view.fingerprint, items=view.items, choices=sel,
                                                   signing_key=sk)
            address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            cast_over_http(app, slug, places[owner], estate.phones[owner], cast.dumps(signed), sms_dir, address)
            truth.append([owner] + [words[it["id"]] for it in agenda["items"]])
            if progress:
                progress(i + 1, voters, time.monotonic() - started)
    finally:
        if tmp is not None:
            os.environ.pop("GONGJUE_SMS_GATEWAY", None)
            tmp.cleanup()
    # 5. close at the end of the window (as the scheduler would), the trustees' shares, the result
    count_round.close_round(engine, slug, ROUND_ID, now=closes + timedelta(seconds=1))
    if secrets:
        with tempfile.TemporaryDirectory(prefix="gongjue-trustee-") as work:
            with transaction(engine) as s:
                lid = store.get_estate(s, slug).log_id
                checkpoint.sign(s, lid, keys.log_key())
                bundle.write_dir(s, lid, Path(work) / "bundle")
            target = trustee_check.decryptable(Path(work) / "bundle", ROUND_ID, jobs=os.cpu_count() or 1)
            for j, secret in secrets.items():
                shares = trustee_check.shares_for(target, j, secret)
                with transaction(engine) as s:
                    count_round.submit_shares(s, slug, ROUND_ID, shares, now=closes + timedelta(seconds=1 + j))
    # 6. the bundle, the truth and the published result
    with transaction(engine) as s:
        lid = store.get_estate(s, slug).log_id
        checkpoint.sign(s, lid, keys.log_key())
        bundle.write_dir(s, lid, out)
    with reading(engine) as s:
        result = count_round.published(s, slug, ROUND_ID)["result"]
    tally_json = result.get("tally") if isinstance(result, dict) else None
    if tally_json is None:
        raise SimulationError(f"no published result: {json.dumps(result, ensure_ascii=False)[:300]}")
    (out / "truth").mkdir()
    (out / "truth" / "roll.csv").write_bytes(roll_csv(estate, phones=False))
    (out / "truth" / "agenda.json").write_text(json.dumps(agenda, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
    (out / "truth" / "ballots.csv").write_bytes(write_csv(["owner"] + [it["id"] for it in agenda["items"]], truth))
    (out / "result.json").write_text(json.dumps(tally_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return tally_json


def _progress(done: int, total: int, seconds: float) -> None:
    if done == total or done % 50 == 0:
        rate = done / seconds if seconds else 0.0
        print(f"\r投票 / cast {done:,}/{total:,} ({rate:.1f}/s)", end="" if done < total else "\n",
              file=sys.stderr, flush=True)


def run(args) -> int:  # noqa: ANN001
    from ledger.db import migrated_engine

    kinds = [k.strip() for k in args.items.split(",") if k.strip()]
    if args.voters < 1 or not kinds:
        print("--voters must be ≥ 1 and --items name at least one item", file=sys.stderr)
        return 2
    slug = args.estate or f"sim-{args.seed}"
    started = time.monotonic()
    try:
        make_agenda(kinds)
        simulate(migrated_engine(), voters=args.voters, secrecy=args.secrecy, kinds=kinds, seed=args.seed, slug=slug,
                 out=args.out, progress=None if args.quiet else _progress, fast=args.fast)
    except (SimulationError, ValueError) as exc:
        print(f"模拟失败 / simulation refused: {exc}", file=sys.stderr)
        return 2
    print(f"已模拟 / simulated {args.voters:,} ballots in estate {slug} ({args.secrecy}) in "
          f"{time.monotonic() - started:.1f} s; bundle, truth/ and result.json in {args.out}")
    return 0
