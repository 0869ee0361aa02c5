"""Upload a roll through the pages as a supervisor does: the file, its preview, the confirm.

``upload_roll(client, path, data, filename="roll.csv", **fields)`` posts the file to ``path``
(``/roll/new`` or ``/estates/<slug>/roll``); when the preview offers a confirm, it posts that too
and returns its response (303 on success), else the preview's response (a refusal, or the page
saying the file is identical)."""

from __future__ import annotations

import html
import re

from tests.web.conftest import csrf_of

_CONFIRM = re.compile(r'<form method="post" action="([^"]+)" class="stack" id="roll-confirm">(.*?)</form>', re.DOTALL)
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def upload_roll(client, path: str, data: bytes | str, filename: str = "roll.csv", *, csrf: str | None = None,
                **fields):
    if isinstance(data, str):
        data = data.encode()
    token = csrf or csrf_of(client.get("/roll/new").text)
    answer = client.post(path, data={"csrf": token, **fields}, files={"file": (filename, data, "text/csv")})
    found = _CONFIRM.search(answer.text) if answer.status_code == 200 else None
    if found is None:
        return answer
    form = {k: html.unescape(v) for k, v in _HIDDEN.findall(found.group(2))}
    return client.post(found.group(1), data=form)
