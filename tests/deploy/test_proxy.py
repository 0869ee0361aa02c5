"""Behind nginx with TLS, configured exactly as docs/DEPLOY.md says (the ``nginx`` block of that
file is what runs here, with local ports and a self-signed certificate): the app sees the public
host and the https scheme (the receipt's QR code encodes ``https://<public host>/…``, the CSRF
cookie is ``__Host-`` and ``Secure``), the owner's address from ``X-Forwarded-For`` (what the
sign-in limits count and the access log records), and plain http is redirected to https.
Skipped where nginx is not installed (``apt-get install nginx-light``)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.web.uvicorn_server import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import httpx

REPO = Path(__file__).resolve().parents[2]
HOST = "vote.example.cn"
OWNER = "203.0.113.7"  # the owner's address as the proxy saw it (TEST-NET-3)
RECEIPT = "7." + "ab" * 32


def nginx_block() -> str:
    text = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/DEPLOY.md must hold exactly one nginx example"
    return blocks[0]


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "cert.pem", folder / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def wait_for(url: str, proc: subprocess.Popen, **kw) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=5, **kw)
            return
        except httpx.TransportError:
            assert proc.poll() is None, f"exited: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


@pytest.fixture
def proxied(tmp_path):
    """``gongjue serve`` on a loopback port behind nginx (TLS); yields (https base, http base, app base, db)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        if os.environ.get("GONGJUE_REQUIRE_NGINX") == "1":
            pytest.fail("nginx is not installed (scripts/test.sh installs nginx-light)")
        pytest.skip("nginx is not installed")
    db = tmp_path / "gongjue.db"
    env = {**os.environ, "GONGJUE_DATABASE_URL": f"sqlite:///{db}", "GONGJUE_SITE": HOST,
           "GONGJUE_LOG_KEY_FILE": str(tmp_path / "log.key"), "GONGJUE_SELFCHECK_SECONDS": "0",
           "GONGJUE_COUNT_SECONDS": "0", "GONGJUE_STAFF_PASSWORD": "correct horse battery staple"}
    env.pop("FORWARDED_ALLOW_IPS", None)  # the default: trust the proxy on this machine only
    for cmd in (["import-roll", "--estate", "maple-court", "--name", "枫林苑", str(REPO / "docs/examples/roll.csv")],
                ["staff", "add", "--username", "alice", "--role", "admin"]):
        done = subprocess.run([sys.executable, "-m", "web.cli", *cmd], env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    app_port, tls_port, plain_port = free_port(), free_port(), free_port()
    crt, pem = self_signed(tmp_path)
    block = nginx_block()
    block = re.sub(r"(    server 127\.0\.0\.1:8001;).*?\n(    keepalive)", rf"    server 127.0.0.1:{app_port};\n\2",
                   block, flags=re.S)
    block = block.replace("listen 443 ssl", f"listen 127.0.0.1:{tls_port} ssl").replace(
        "listen 80;", f"listen 127.0.0.1:{plain_port};")
    block = re.sub(r"ssl_certificate .*;", f"ssl_certificate {crt};", block)
    block = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {pem};", block)
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "") +
        f"daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log stderr warn;\nevents {{}}\nhttp {{\n"
        f"access_log off;\nclient_body_temp_path {temp}/body;\nproxy_temp_path {temp}/proxy;\n"
        f"fastcgi_temp_path {temp}/fcgi;\nuwsgi_temp_path {temp}/uwsgi;\nscgi_temp_path {temp}/scgi;\n"
        f"{block}}}\n", encoding="utf-8")
    app = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(app_port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-e", "stderr"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{app_port}/", app)
        wait_for(f"https://127.0.0.1:{tls_port}/", proxy, verify=False)
        yield f"https://127.0.0.1:{tls_port}", f"http://127.0.0.1:{plain_port}", f"http://127.0.0.1:{app_port}", db
    finally:
        for proc in (proxy, app):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def test_behind_nginx_the_app_sees_the_public_host_https_and_the_owners_address(proxied):
    https, plain, direct, db = proxied
    headers = {"Host": HOST, "X-Forwarded-For": OWNER}
    with httpx.Client(verify=False, headers=headers, follow_redirects=False, timeout=30) as client:
        r = client.get(f"{plain}/estates/maple-court?x=1")
        assert r.status_code == 301 and r.headers["location"] == f"https://{HOST}/estates/maple-court?x=1"

        qr = client.get(f"{https}/estates/maple-court/receipt.svg", params={"r": RECEIPT})
        assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
        told = httpx.get(f"{direct}/estates/maple-court/receipt.svg", params={"r": RECEIPT},
                         headers={"Host": HOST, "X-Forwarded-Proto": "https"})
        plain_qr = httpx.get(f"{direct}/estates/maple-court/receipt.svg", params={"r": RECEIPT}, headers={"Host": HOST})
        assert qr.content == told.content != plain_qr.content  # https://vote.example.cn/…, not http://

        page = client.get(f"{https}/signin")
        assert page.status_code == 200 and "strict-transport-security" in page.headers
        cookies = page.headers.get_list("set-cookie")
        csrf_cookie = [c for c in cookies if c.startswith("__Host-")]
        assert csrf_cookie and "Secure" in csrf_cookie[0], cookies
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
        r = client.post(f"{https}/signin", data={"csrf": token, "username": "alice",
                                                  "password": "correct horse battery staple"})
        assert r.status_code == 303, r.text
        assert any(c.startswith("__Host-") or "Secure" in c for c in r.headers.get_list("set-cookie"))
    with sqlite3.connect(db) as conn:
        clients = {row[0] for row in conn.execute("SELECT client FROM identity_access_log WHERE username = 'alice' "
                                                  "AND client IS NOT NULL")}
    assert clients == {OWNER}, clients
