"""A paper ballot's station ballot made in the scrutineers' browser (SPEC §7.9, issue #10).

In a secret round the scrutineers' station encrypts the agreed marks under the round's joint key
(``web/static/staff/paper.js`` with ``gongjue-crypto.js``: a fresh Ed25519 station key per
ballot, forgotten after signing) and sends, with its entry, the signed ballot and its
cast-or-audit reveal (the plaintext selections and the encryption nonces).  The server then is
not the one that encrypts; it checks that the ballot is exactly the entered marks:

1. the ballot verifies completely (``voting.crypto.ballot.verify_ballot``: signature, round
   fingerprint, the paper shapes, every 0/1 and count proof);
2. re-encrypting every selection with the revealed nonce gives the ballot's ciphertexts
   (``check_reveal``), and the revealed selections are those of the canonical marks
   (``voting.paper_entry.selections``);
3. its key is no credential key ever registered and signs no other paper ballot of the round.

The reveal is used for this check only: it is neither stored nor written to the ledger (the
pending entry holding the marks is deleted when the ballot is recorded, as before).
``station_check(submitted, registered)`` returns the callable ``voting.paper_entry.enter``
takes as ``station``.
"""

from __future__ import annotations

from collections.abc import Callable

from voting.crypto import ballot as ballots_
from voting.paper_entry import PaperError, RoundState, paper_shapes, selections


def _refuse(why: str) -> PaperError:
    return PaperError("bad_marks", "监票站的加密选票与录入的标记不符，未记录；请刷新页面后重新录入 / the station's "
                                   f"encrypted ballot does not match the entered marks; nothing was recorded ({why})")


def station_check(submitted: object, registered: Callable[[str], bool]) -> Callable[[object, dict, RoundState], dict]:
    """The ``station`` callable for ``paper_entry.enter``: accept ``submitted`` = {"signed", "reveal"}
    only if it encrypts exactly the canonical marks (``registered(key)``: is it a credential key)."""

    def check(ann, canon: dict, state: RoundState) -> dict:
        if not isinstance(submitted, dict) or set(submitted) != {"signed", "reveal"}:
            raise _refuse("expected {signed, reveal}")
        signed = submitted["signed"]
        shapes = paper_shapes(ann.agenda)
        try:
            if ann.secrecy == "secret":
                joint_key = bytes.fromhex(ann.joint_key)
                ballots_.verify_ballot(signed, fingerprint=bytes.fromhex(ann.fingerprint), joint_key=joint_key,
                                       items=shapes)
                revealed = ballots_.check_reveal(signed, ballots_.Reveal.from_json(submitted["reveal"]),
                                                 joint_key=joint_key, items=shapes)
            else:
                ballots_.verify_open_ballot(signed, fingerprint=bytes.fromhex(ann.fingerprint), items=shapes)
                revealed = {i["id"]: list(i["selections"]) for i in signed["ballot"]["items"]}
        except (ballots_.BallotError, ValueError, TypeError, KeyError) as exc:
            raise _refuse(str(exc)) from None
        if revealed != selections(ann.agenda, canon):
            raise _refuse("the selections differ")
        key = signed["ballot"]["voter"]
        if key in state.paper_keys or registered(key):
            raise _refuse("the station key was used before")
        return signed

    return check
