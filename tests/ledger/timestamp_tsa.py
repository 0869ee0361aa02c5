"""A real local RFC 3161 TSA for tests: OpenSSL's ``openssl ts -reply`` with a test CA made here,
behind a tiny HTTP server (a thread) that answers ``POST /`` with the DER reply.

``TestTSA(tmp_path)``: ``.url``, ``.roots`` (the CA's PEM file), ``.down`` (answer 503 while set),
``.hang`` (seconds to wait before answering: a TSA that is slow or stuck),
``.requests`` (how many were answered), ``.stop()``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(directory: Path, cn: str = "Gongjue Test TSA Root") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def make_tsa_cert(directory: Path, ca_key, ca_cert: x509.Certificate, cn: str = "Gongjue Test TSA") -> None:  # noqa: ANN001
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "tsa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    (directory / "tsa.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "chain.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "serial").write_text("01\n")
    (directory / "openssl.cnf").write_text(CONFIG.format(dir=directory))


class TestTSA:
    """OpenSSL's TSA behind HTTP on 127.0.0.1 (a free port), in a thread."""

    __test__ = False

    def __init__(self, directory: Path, cn: str = "Gongjue Test TSA Root") -> None:
        self.dir = directory
        ca_key, ca_cert = make_ca(directory, cn)
        make_tsa_cert(directory, ca_key, ca_cert)
        self.roots = directory / "ca.crt"
        self.down = False
        self.hang = 0.0
        self.arrived = 0  # requests received (before any hang)
        self.requests = 0
        self._lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                tsa.arrived += 1
                if tsa.hang:
                    time.sleep(tsa.hang)
                if tsa.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                reply = tsa.reply(data)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def reply(self, query: bytes) -> bytes:
        """``openssl ts -reply`` on one DER query."""
        with self._lock:
            self.requests += 1
            n = self.requests
            (self.dir / f"q{n}.tsq").write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.dir / "openssl.cnf"),
                            "-queryfile", str(self.dir / f"q{n}.tsq"), "-out", str(self.dir / f"r{n}.tsr")],
                           check=True, capture_output=True)
            return (self.dir / f"r{n}.tsr").read_bytes()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
