"""Schemathesis against /api/v1/openapi.json of the real app, on both databases (issue #11.4).

The estate has a roll, registered credentials, an open secret round ``r1`` and a draft ``r2``;
every operation is called as a visitor, as the estate's supervisor (a staff session) and as an
owner (a verified owner session), with the estate's slug, round and a voter's pseudonym in the
path most of the time (so the handlers' own checks are reached, not only 401 and 404) and
generated ones otherwise.  Positive (schema-valid) and negative (schema-violating) requests.

Checks: no 5xx; every status code documented; every body and content type as declared
(``web.api_errors`` states the common error answers); negative requests refused with a 4xx.
Not checked: schemathesis's "positive data acceptance" — a schema-valid request may still be
refused (422/409) by what JSON Schema cannot state: signatures, proofs, dates, the round's state.

Bounded and deterministic: ``derandomize=True``, a few examples per operation and identity.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
IDENTITIES = ("visitor", "staff", "owner")


def _point_at_the_estate(case, choice: str, known: dict) -> None:
    """Known values in the path: the open round, the draft, or leave the generated ones."""
    params = case.path_parameters or {}
    if choice == "generated":
        return
    for name in params:
        if name in known:
            params[name] = known[name]
    if choice == "draft" and "round_id" in params:
        params["round_id"] = "r2"


def _run(op, mode: GenerationMode, cookies: dict, known: dict, failures: list, statuses: Counter) -> None:
    @settings(max_examples=EXAMPLES[mode], derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode),
           where=st.sampled_from(["known", "known", "draft", "generated"]))
    def call(case, where):
        _point_at_the_estate(case, where, known)
        try:
            response = case.call_and_validate(cookies=cookies, checks=CHECKS)
            statuses[response.status_code] += 1
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported below
            for one in getattr(exc, "exceptions", [exc]):
                failures.append((f"{op.method.upper()} {op.path} [{mode.value}]: {getattr(one, 'title', type(one).__name__)}",
                                 str(one)[:1500]))

    try:
        call()
    except Exception as exc:
        if type(exc).__name__ != "Unsatisfiable":  # e.g. a negative GET without parameters
            raise


def test_every_operation_answers_as_declared(world):
    app, cookies, known = world
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: list[tuple[str, str]] = []
    statuses: Counter = Counter()
    for op in operations:
        for who in IDENTITIES:
            _run(op, GenerationMode.POSITIVE, cookies[who], known, failures, statuses)
        _run(op, GenerationMode.NEGATIVE, cookies["staff"], known, failures, statuses)
    kinds = sorted({kind for kind, _ in failures})
    first = {}
    for kind, text in failures:
        first.setdefault(kind, text)
    assert not failures, (f"{len(failures)} failures of {len(kinds)} kinds:\n" + "\n".join(kinds) + "\n\n"
                          + "\n\n".join(first[k] for k in kinds[:8]))
    # the handlers were reached, not only the sign-in checks
    assert statuses[200] + statuses[201] >= 20 and statuses[422] >= 20 and statuses[409] >= 1, statuses
    assert not any(code >= 500 for code in statuses)
