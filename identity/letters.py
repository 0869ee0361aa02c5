"""Print-ready credential letters and the signed key list (SPEC §4.4).

The credential step runs at the credential authority, offline (``gongjue credentials
generate``).  For every voter it draws a fresh code (``identity.credential``), derives the
Ed25519 public key, and writes two files into an output directory:

- ``letters.html``: one A4 page per voter (CSS ``@page { size: A4 }``, a page break after each),
  in Chinese with short English lines: the estate, the owner id and pseudonym, the voter's parts
  (building/unit/room), the code as large grouped text and as a QR code of the booth URL
  ``<base_url>/vote#c=<CODE>`` (a URL fragment never reaches the server), the key fingerprint
  (SPEC §4.7), how to vote step by step, and a warning to keep the code secret.  Mode 0600: it
  holds every voter's secret.
- ``credentials.json``: what the caller's ``sign`` makes of the issued credentials — the
  authority's signed ``credentials`` statement (identity.authority, SPEC §4.5), public keys only.

Existing files are never overwritten (a second run would orphan letters already printed), and
both files appear together or not at all.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import segno

from identity.authority import fingerprint
from identity.credential import format_code, generate_code, public_key_hex
from ledger.keys import DEFAULT_SITE

LETTERS_FILE = "letters.html"
KEYS_FILE = "credentials.json"
MAX_PARTS_SHOWN = 12
"""A letter lists at most this many parts, then says how many more there are."""


class PartLike(Protocol):
    building: str
    unit: str
    room: str


class VoterLike(Protocol):
    """A voter to write a letter for: ``voter_id`` (the roll pseudonym) and its parts, each a
    PartLike or a label already written out; an ``owner`` attribute (the owner id), when present,
    is printed as well."""

    voter_id: str
    parts: Sequence[PartLike | str]


@dataclass(frozen=True)
class LetterVoter:
    """A voter as the authority's tool knows it from the roll openings (SPEC §6.2)."""

    voter_id: str  # the pseudonym
    owner: str  # the owner id (业主编号)
    parts: tuple[PartLike | str, ...]


def letter_voters(opened) -> list[LetterVoter]:
    """The voters of an opened roll (``identity.record.open_roll``) with their parts, in roll order."""
    parts: dict[str, list] = {}
    for p in opened.roll.parts:
        parts.setdefault(opened.pseudonyms[p.owner], []).append(p)
    return [LetterVoter(v.voter, v.owner, tuple(parts.get(v.voter, ()))) for v in opened.voters]


class LetterError(ValueError):
    """The letters cannot be written (files exist, no voters, duplicate voter ids)."""


@dataclass(frozen=True)
class Credential:
    """One voter's freshly issued credential: the secret code and its public key."""

    voter_id: str
    code: str  # the 24 symbols, no separators
    public_key: str  # Ed25519, 64 lowercase hex


@dataclass(frozen=True)
class CredentialFiles:
    """What ``write_credentials`` produced."""

    letters: Path
    credentials: Path
    count: int


def issue_credentials(voters: Sequence[VoterLike], origin: str,
                      random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> list[Credential]:
    """A fresh code and its public key for every voter, in roll order."""
    seen: set[str] = set()
    issued = []
    for voter in voters:
        if voter.voter_id in seen:
            raise LetterError(f"表决权人编号重复 / duplicate voter id {voter.voter_id!r}")
        seen.add(voter.voter_id)
        code = generate_code(random_bytes)
        issued.append(Credential(voter.voter_id, code, public_key_hex(code, origin)))
    return issued


def booth_url(base_url: str, code: str) -> str:
    """The URL the letter's QR code encodes: ``<base_url>/vote#c=<CODE>``."""
    return f"{base_url.rstrip('/')}/vote#c={code}"


def default_base_url(origin: str) -> str:
    """The booth base URL when none is given: ``https://<site>/estates/<slug>`` for origin ``<site>/<slug>``."""
    site, _, slug = origin.rpartition("/")
    return f"https://{site}/estates/{slug}"


PLACEHOLDER_SITE = DEFAULT_SITE  # the site name until GONGJUE_SITE_NAME is set
_RESERVED_SUFFIXES = (".local", ".localhost", ".test", ".invalid", ".example", ".internal", ".lan")
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")


def base_url_problem(origin: str, base_url: str | None) -> str | None:
    """Why the letters' QR codes would not reach the booth, or None: the placeholder site name with
    no ``--base-url``; a ``--base-url`` on a placeholder, reserved or local host; or not https (a
    phone's browser encrypts ballots only on a secure page).  Message 中文 / English."""
    import ipaddress
    from urllib.parse import urlsplit

    if base_url is None:
        site = origin.rpartition("/")[0]
        if site == PLACEHOLDER_SITE or _placeholder_host(site):
            return (f"站点名仍是占位符 {site}，二维码将指向不存在的地址 https://{site}/…；请用 --base-url 给出真实的"
                    f"投票网址 / the site name is the placeholder {site!r}; the QR codes would point nowhere — give "
                    f"the real booth address with --base-url (or set GONGJUE_SITE_NAME before creating the estate)")
        return None
    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        parts, host = None, ""
    if parts is None or not host:
        return f"--base-url {base_url!r} 不是有效的网址 / --base-url {base_url!r} is not a valid URL"
    if host == PLACEHOLDER_SITE or _placeholder_host(host):
        return (f"--base-url 的主机 {host} 是占位符或本机地址，二维码将指向不存在的地址 / the host {host!r} of "
                f"--base-url is a placeholder or local address; the QR codes would point nowhere")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and (ip.is_private or ip.is_loopback or ip.is_unspecified or ip.is_link_local):
        return (f"--base-url 的地址 {host} 只在本地网络可用，业主的手机打不开 / the address {host} of --base-url "
                f"is a local network address; owners' phones cannot reach it")
    if parts.scheme != "https":
        return (f"--base-url 不是 https 网址（{parts.scheme}），手机浏览器只在 https 页面上加密选票 / --base-url is not "
                f"https ({parts.scheme!r}): a phone's browser encrypts ballots only on an https page")
    return None


def _placeholder_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return (host in ("localhost", "") or host.endswith(_RESERVED_SUFFIXES)
            or any(host == d or host.endswith("." + d) for d in _EXAMPLE_DOMAINS))


def part_label(part: PartLike) -> str:
    """A part in Chinese: "3栋 2单元 1201室" (the unit omitted when empty)."""
    pieces = [f"{part.building}栋"]
    if part.unit:
        pieces.append(f"{part.unit}单元")
    pieces.append(f"{part.room}室")
    return " ".join(pieces)


def _label(part: PartLike | str) -> str:
    return part if isinstance(part, str) else part_label(part)


def render_letters(estate_name: str, origin: str, base_url: str, voters: Sequence[VoterLike],
                   credentials: Sequence[Credential], *, problem: str | None = None) -> str:
    """The whole ``letters.html``: one A4 page per voter, in the order given.  With ``problem``
    (``base_url_problem``) every page is marked as a sample not to be delivered."""
    if len(voters) != len(credentials):
        raise LetterError("voters and credentials differ in number")
    pages = [_page(estate_name, origin, base_url, v, c) for v, c in zip(voters, credentials, strict=True)]
    if problem:
        banner = (f'<div class="warn sample">样张，请勿分发：二维码网址无效。/ SAMPLE — do not deliver: the QR '
                  f'address is wrong.<div class="small">{html.escape(problem)}</div></div>\n')
        pages = [p.replace('<section class="letter" ', '<section class="letter" data-sample="yes" ', 1)
                 .replace("<h1>", banner + "<h1>", 1) for p in pages]
    return _DOCUMENT.format(title=html.escape(f"{estate_name} 网上表决凭证"), pages="\n".join(pages))


def _page(estate_name: str, origin: str, base_url: str, voter: VoterLike, cred: Credential) -> str:
    if voter.voter_id != cred.voter_id:
        raise LetterError(f"credential for {cred.voter_id!r} paired with voter {voter.voter_id!r}")
    url = booth_url(base_url, cred.code)
    qr = segno.make(url, error="m").svg_inline(scale=5, title="扫码投票 / scan to vote")
    parts = list(voter.parts)
    items = "".join(f"<li>{html.escape(_label(p))}</li>" for p in parts[:MAX_PARTS_SHOWN])
    if len(parts) > MAX_PARTS_SHOWN:
        more = len(parts) - MAX_PARTS_SHOWN
        items += f"<li>……另有 {more} 套 / and {more} more</li>"
    esc = html.escape
    return _PAGE.format(
        estate=esc(estate_name), origin=esc(origin), voter=esc(voter.voter_id),
        owner=esc(getattr(voter, "owner", voter.voter_id)), parts=items,
        count=len(parts), code=esc(format_code(cred.code)), qr=qr, booth=esc(f"{base_url.rstrip('/')}/vote"),
        key=esc(fingerprint(cred.public_key)))


def write_credentials(out_dir: Path, estate_name: str, origin: str, voters: Sequence[VoterLike],
                      base_url: str | None = None,
                      random_bytes: Callable[[int], bytes] = secrets.token_bytes, *,
                      sign: Callable[[Sequence[Credential]], dict]) -> CredentialFiles:
    """Issue credentials for ``voters`` and write ``letters.html`` (0600) and ``credentials.json``.

    ``sign`` turns the issued credentials into the document written to ``credentials.json``
    (the authority's signed statement; it never sees more than voter ids and public keys).
    Refuses (``LetterError``) when there are no voters or when either file already exists;
    writes both through temporary files so that a failure leaves neither behind.
    """
    if not voters:
        raise LetterError("名册中没有表决权人 / the roll has no voters")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    letters, keys = out_dir / LETTERS_FILE, out_dir / KEYS_FILE
    for path in (letters, keys):
        if path.exists():
            raise LetterError(f"文件已存在，不会覆盖（已打印的信会失效）/ {path} already exists; "
                              f"refusing to overwrite letters that may have been printed")
    credentials = issue_credentials(voters, origin, random_bytes)
    page = render_letters(estate_name, origin, base_url or default_base_url(origin), voters, credentials,
                          problem=base_url_problem(origin, base_url))
    signed = sign([Credential(c.voter_id, "", c.public_key) for c in credentials])  # no codes past here
    document = json.dumps(signed, ensure_ascii=False, indent=2) + "\n"
    written: list[Path] = []
    try:
        for path, text, mode in ((letters, page, 0o600), (keys, document, 0o644)):
            _write_new(path, text.encode("utf-8"), mode)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return CredentialFiles(letters, keys, len(credentials))


def write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only (0600); never replaces an existing file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_new(path, text.encode("utf-8"), 0o600)


def render_pin_letters(estate_name: str, slug: str, pages: Sequence[tuple[str, Sequence[str], str]]) -> str:
    """``pins.html`` (SPEC §4.6): one A4 page per (owner id, part labels, printed PIN)."""
    esc = html.escape
    out = []
    for owner, parts, pin in pages:
        items = "".join(f"<li>{esc(_label(p))}</li>" for p in list(parts)[:MAX_PARTS_SHOWN])
        if len(parts) > MAX_PARTS_SHOWN:
            items += f"<li>……另有 {len(parts) - MAX_PARTS_SHOWN} 套 / and {len(parts) - MAX_PARTS_SHOWN} more</li>"
        out.append(_PIN_PAGE.format(estate=esc(estate_name), owner=esc(owner), parts=items, pin=esc(pin),
                                    slug=esc(slug)))
    return _DOCUMENT.format(title=esc(f"{estate_name} 网上表决 PIN 信"), pages="\n".join(out))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file at ``path`` with ``mode``; never replaces an existing file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if path exists
    finally:
        os.unlink(tmp)


_DOCUMENT = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
@page {{ size: A4; margin: 14mm 16mm; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       font-size: 12pt; line-height: 1.45; color: #000; }}
.letter {{ page-break-after: always; break-after: page; position: relative; }}
.letter:last-child {{ page-break-after: auto; break-after: auto; }}
h1 {{ font-size: 19pt; margin: 0 0 1mm; }}
h2 {{ font-size: 14pt; margin: 3mm 0 1mm; }}
.en {{ font-size: 9pt; color: #444; }}
.who {{ border: 1px solid #000; padding: 2mm 4mm; margin: 3mm 0; }}
.who ul {{ margin: 1mm 0 0; padding-left: 6mm; columns: 3; }}
.code-block {{ display: flex; align-items: center; gap: 8mm; margin: 3mm 0; }}
.code {{ font-family: "DejaVu Sans Mono", "Consolas", monospace; font-size: 22pt; font-weight: bold;
        letter-spacing: 1pt; word-spacing: 4pt; }}
.qr svg {{ width: 42mm; height: 42mm; }}
ol.steps {{ padding-left: 7mm; margin: 2mm 0; }}
ol.steps li {{ margin-bottom: 1mm; }}
.warn {{ border: 2px solid #000; padding: 2mm 4mm; margin-top: 4mm; font-weight: bold; }}
.small {{ font-size: 9pt; color: #444; }}
.warn.sample {{ position: absolute; top: 0; left: 0; right: 0; margin: 0; background: #fff; }} /* over the heading: no extra page */
</style>
</head>
<body>
{pages}
</body>
</html>
"""

_PAGE = """<section class="letter" data-voter="{voter}">
<h1>{estate} 业主大会网上表决凭证</h1>
<div class="en">Owners' assembly online voting credential — {origin}</div>
<div class="who">
<div>业主编号 / Owner: <strong>{owner}</strong> <span class="small">（表决权人代码 / pseudonym {voter}）</span></div>
<div>您的房屋（共 {count} 套）/ Your parts:</div>
<ul>{parts}</ul>
</div>
<div class="code-block">
<div class="qr">{qr}</div>
<div>
<div>您的凭证码 / Your credential code:</div>
<div class="code">{code}</div>
<div class="small">码中没有 0、O、1、I、L，不会混淆 / no 0, O, 1, I or L</div>
</div>
</div>
<h2>怎样投票 / How to vote</h2>
<ol class="steps">
<li>用手机微信“扫一扫”或相机扫描上面的二维码，会打开投票页面（凭证码已自动填好）。</li>
<li>如果不方便扫码：在手机浏览器打开 <strong>{booth}</strong>，照上面的凭证码输入（大小写、横线都可以不输）。</li>
<li>先登录：填一套房屋，再输入发到登记手机的短信验证码（无登记手机的用另寄的 PIN 信）。</li>
<li>核对页面上的小区名称是 <strong>{estate}</strong>，然后逐项选择“同意”“反对”或“弃权”（选举项按提示勾选候选人）。</li>
<li>检查无误后点“提交”。页面会显示一个“回执码”，请抄下来或截图，之后可以用它核对您的票已被计入。</li>
<li>截止前都可以投，同一份凭证只计一票。家人可以帮您操作，但请您自己做决定。</li>
</ol>
<div class="en">Scan the QR code (or open {booth} and type the code), sign in with one of your flats and the SMS code (or your PIN letter), check the estate name, mark each item, submit, and keep the receipt code shown.</div>
<div class="warn">
请妥善保管本信：凭证码就是您的电子签名，任何人拿到它都能以您的名义投票。不要告诉别人，不要拍照发给别人；
工作人员、物业和业委会都不会向您索要凭证码。如果遗失或怀疑被别人看到，请立即联系业主委员会或筹备组作废并补发。
<div class="en">Keep this letter safe: the code is your signature. Never share it; nobody will ever ask you for it. If it is lost or seen by others, ask for a new one at once.</div>
</div>
<div class="small">公钥指纹 / key fingerprint: <strong>{key}</strong>（登录“我的凭证”页面可核对系统登记的是否为这一把 / your owner page shows the fingerprint registered for you: they must match）</div>
</section>"""

_PIN_PAGE = """<section class="letter pin-letter">
<h1>{estate} 网上表决登录 PIN</h1>
<div class="en">Owners' assembly online voting: your sign-in PIN</div>
<div class="who">
<div>业主编号 / Owner: <strong>{owner}</strong></div>
<div>您的房屋 / Your parts:</div>
<ul>{parts}</ul>
</div>
<div>您的登录 PIN / Your sign-in PIN:</div>
<div class="code">{pin}</div>
<h2>这封信做什么用 / What this is for</h2>
<ol class="steps">
<li>投票需要两样东西：街道（凭证机构）寄给您的<strong>凭证码</strong>信，和这封由运营方寄出的 <strong>PIN</strong> 信。两封信分别由不同单位发出，任何一方都不能单独替您投票。</li>
<li>打开投票页面时，先填您的一套房屋（楼栋、单元、房号），再输入上面的 PIN 登录，然后用凭证码投票。</li>
<li>请把两封信分开保管；PIN 只用于登录，连续输错多次会被暂时锁定。</li>
</ol>
<div class="en">Voting needs both letters: the credential code from the authority and this PIN from the operator. Sign in with one of your parts and this PIN, then vote with the code. Keep the two letters apart.</div>
<div class="warn">请勿把 PIN 告诉别人；工作人员不会向您索要。/ Never share this PIN; nobody will ever ask you for it.</div>
<div class="small">小区代号 / estate: {slug}</div>
</section>"""
