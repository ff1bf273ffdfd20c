"""Run a real Docker distribution registry on loopback for tests and benchmarks.

``docker-registry serve CONFIG`` (Debian package ``docker-registry``) is started on
127.0.0.1 with a free port and a temporary storage directory, optionally behind
htpasswd or token authentication.  Images are pushed through the registry API the
way a client does (blob upload, then manifest PUT), so the digests the client under
test reads back are the registry's own.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import importlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import requests
import yaml
from ports import free_port

from app.registry.addresses import AddressPolicy, parse_networks

REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = (
    "the registry tests need the `docker-registry` binary: install the Debian package "
    "docker-registry (apt-get install docker-registry)"
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

STARTUP_TIMEOUT = 10.0
# Test registries listen on loopback, which the client refuses unless the operator allows it.
LOOPBACK_NETWORKS = AddressPolicy(parse_networks("127.0.0.0/8"))
HTTP_TIMEOUT = 5.0


class RegistryUnavailable(RuntimeError):
    """The registry binary is missing or the server did not come up; the message says why."""


def registry_binary() -> str:
    path = shutil.which(REGISTRY_BINARY)
    if path is None:
        raise RegistryUnavailable(INSTALL_HINT)
    return path




def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# bcrypt hashes (cost 4) of the test passwords, so the default tests need neither the
# bcrypt package nor apache2-utils; other passwords are hashed at run time.
PRECOMPUTED_BCRYPT = {"s3cret": "$2b$04$TKO4G88qT/Hx8C4Rcws5j.kzoAP51oHO7D4XeJB6ypQkoyQ4HSUMS"}


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd entry; distribution accepts bcrypt hashes only."""
    if password in PRECOMPUTED_BCRYPT:
        return f"{user}:{PRECOMPUTED_BCRYPT[password]}"
    try:
        # Optional: looked up at run time so type checking does not need it installed.
        bcrypt: Any = importlib.import_module("bcrypt")
    except ImportError:
        return _htpasswd_line_from_binary(user, password)
    hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    return f"{user}:{hashed.decode()}"


def _htpasswd_line_from_binary(user: str, password: str) -> str:
    binary = shutil.which("htpasswd")
    if binary is None:
        raise RegistryUnavailable(
            "htpasswd entries need bcrypt: pip install bcrypt into the virtualenv, "
            "or install the Debian package apache2-utils"
        )
    out = subprocess.run([binary, "-nbB", "-C", "4", user, password], check=True, capture_output=True, text=True)
    return out.stdout.strip()


@dataclass(frozen=True, slots=True)
class TokenAuthConfig:
    """The registry side of the bearer-token flow: where tokens come from, who signs them."""

    realm: str
    service: str
    issuer: str
    root_cert_path: Path


@dataclass
class RegistryServer:
    """A ``docker-registry serve`` process on 127.0.0.1; use as a context manager."""

    workdir: Path
    htpasswd: Mapping[str, str] | None = None
    token_auth: TokenAuthConfig | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_workdir: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        """The registry host as written in an image reference: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> RegistryServer:
        binary = registry_binary()
        last_error = ""
        # A free port can be taken between probing and binding; try a few.
        for _ in range(3):
            self.port = free_port()
            config = self._write_config()
            log = (self.workdir / "registry.log").open("wb")
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
            log.close()
            ready, last_error = self._wait_ready()
            if ready:
                return self
            self.stop()
        raise RegistryUnavailable(f"docker-registry did not start: {last_error}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RegistryServer:
        # start_registry() hands back a running server; starting again would orphan it.
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def _write_config(self) -> Path:
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }
        auth = self._auth_config()
        if auth:
            config["auth"] = auth
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _auth_config(self) -> dict[str, Any]:
        if self.htpasswd is not None:
            path = self.workdir / "htpasswd"
            path.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in self.htpasswd.items()))
            return {"htpasswd": {"realm": "image-review-test", "path": str(path)}}
        if self.token_auth is not None:
            t = self.token_auth
            return {
                "token": {
                    "realm": t.realm,
                    "service": t.service,
                    "issuer": t.issuer,
                    "rootcertbundle": str(t.root_cert_path),
                }
            }
        return {}

    def _wait_ready(self) -> tuple[bool, str]:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False, f"exited with {self.process.returncode}: {self._log_tail()}"
            try:
                answer = requests.get(f"{self.url}/v2/", timeout=1)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            # 401 means up and asking for credentials, which is ready too.
            if answer.status_code in (200, 401):
                return True, ""
        return False, f"no answer on {self.url}/v2/ within {STARTUP_TIMEOUT:.0f}s: {self._log_tail()}"

    def _log_tail(self) -> str:
        path = self.workdir / "registry.log"
        return path.read_text(errors="replace")[-500:] if path.exists() else ""


def start_registry(
    *,
    htpasswd: Mapping[str, str] | None = None,
    token_auth: TokenAuthConfig | None = None,
    workdir: Path | None = None,
) -> RegistryServer:
    """Start a registry in a fresh temporary directory; call ``cleanup()`` (or use ``with``)."""
    owns = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="image-review-registry-")) if workdir is None else workdir
    server = RegistryServer(directory, htpasswd=htpasswd, token_auth=token_auth, _owns_workdir=owns)
    try:
        return server.start()
    except BaseException:
        server.cleanup()
        raise


# --- Pushing images through the registry API -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageBlobs:
    """A tiny but well-formed image: one gzipped tar layer and its config."""

    config: bytes
    layer: bytes


def make_image(seed: str, *, architecture: str = "amd64") -> ImageBlobs:
    """Deterministic blobs: the same seed gives the same bytes, hence the same digests."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        payload = f"build {seed}\n".encode()
        info = tarfile.TarInfo("etc/build-id")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    diff_id = sha256_digest(raw.getvalue())
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Labels": {"build": seed}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    return ImageBlobs(json.dumps(config, sort_keys=True).encode(), layer)


@dataclass
class Pusher:
    """Pushes blobs and manifests to one registry; ``requests_made`` counts its HTTP calls."""

    base_url: str
    auth: tuple[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    requests_made: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _send(
        self, method: str, url: str, *, data: bytes | None = None, content_type: str | None = None
    ) -> requests.Response:
        with self._lock:
            self.requests_made += 1
        headers = dict(self.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        answer = requests.request(method, url, data=data, auth=self.auth, headers=headers, timeout=HTTP_TIMEOUT)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {url} -> HTTP {answer.status_code}: {answer.text[:300]}")
        return answer

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256_digest(data)
        start = self._send("POST", f"{self.base_url}/v2/{name}/blobs/uploads/")
        location = urljoin(self.base_url + "/", start.headers["Location"])
        separator = "&" if "?" in location else "?"
        self._send(
            "PUT",
            f"{location}{separator}digest={digest}",
            data=data,
            content_type="application/octet-stream",
        )
        return digest

    def put_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or digest; return the digest of the exact bytes sent."""
        url = f"{self.base_url}/v2/{name}/manifests/{reference}"
        answer = self._send("PUT", url, data=body, content_type=media_type)
        digest = sha256_digest(body)
        echoed = answer.headers.get("Docker-Content-Digest")
        if echoed is not None and echoed != digest:
            raise RuntimeError(f"registry stored {echoed} for a manifest whose bytes hash to {digest}")
        return digest

    def push_image(self, name: str, tag: str, image: ImageBlobs, *, oci: bool = False) -> str:
        """Upload the config and layer blobs, then the manifest under ``tag``; return its digest."""
        body = self.image_manifest(name, image, oci=oci)
        return self.put_manifest(name, tag, body, OCI_MANIFEST if oci else DOCKER_MANIFEST)

    def image_manifest(self, name: str, image: ImageBlobs, *, oci: bool = False) -> bytes:
        """Upload the blobs and return the manifest bytes (not yet pushed)."""
        config_digest = self.push_blob(name, image.config)
        layer_digest = self.push_blob(name, image.layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "size": len(image.config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "size": len(image.layer),
                    "digest": layer_digest,
                }
            ],
        }
        return json.dumps(manifest, indent=3).encode()

    def push_manifest_bytes(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        return self.put_manifest(name, tag, body, media_type)

    def push_index(self, name: str, tag: str, seed: str, architectures: Iterable[str]) -> str:
        """A multi-arch OCI index: push each platform manifest by digest, then the index."""
        entries = []
        for arch in architectures:
            body = self.image_manifest(name, make_image(f"{seed}-{arch}", architecture=arch), oci=True)
            digest = self.put_manifest(name, sha256_digest(body), body, OCI_MANIFEST)
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "size": len(body),
                    "digest": digest,
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        return self.put_manifest(name, tag, index, OCI_INDEX)


# --- Token authentication: a signing certificate and a token server --------------------------


@dataclass
class TokenIssuer:
    """Signs registry bearer tokens (RS256 JWT with an x5c chain) for the registry's token auth."""

    issuer: str
    service: str
    key: Any
    cert_der: bytes
    cert_path: Path

    @classmethod
    def create(
        cls, directory: Path, *, issuer: str = "image-review-test", service: str = "test-registry"
    ) -> TokenIssuer:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        path = directory / "token-ca.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(issuer, service, key, cert.public_bytes(serialization.Encoding.DER), path)

    def token(self, scope: str | None, *, lifetime: int = 300, subject: str = "anonymous") -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + lifetime,
            "jti": hashlib.sha256(f"{now}{scope}{time.perf_counter_ns()}".encode()).hexdigest()[:16],
            "access": _access_claims(scope),
        }
        header = {"x5c": [base64.b64encode(self.cert_der).decode()]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=header)


def _access_claims(scope: str | None) -> list[dict[str, Any]]:
    """``repository:name:pull,push`` (space-separated, possibly several) as JWT access entries."""
    out: list[dict[str, Any]] = []
    for item in (scope or "").split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        out.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
    return out


TokenResponder = Callable[[str | None, str | None], dict[str, Any]]


@dataclass
class ThreadedApp:
    """A WSGI app served on 127.0.0.1 from a background thread (token servers, fake registries)."""

    app: Any
    server: Any = None
    thread: threading.Thread | None = None

    def start(self) -> ThreadedApp:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log(self, type: str, message: str, *args: Any) -> None:
                """Keep test output free of access logs."""

        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler)
        # A short poll interval makes shutdown() quick; tests start and stop many of these.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        port: int = self.server.server_port
        return port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> ThreadedApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class TokenServer:
    """The realm: answers ``GET /token?service=&scope=`` with a signed token.

    ``users`` set means Basic credentials are required; ``field_name`` picks ``token`` or
    ``access_token`` in the answer; ``calls`` records each request's (scope, user).
    """

    issuer: TokenIssuer
    users: Mapping[str, str] | None = None
    field_name: str = "token"
    lifetime: int = 300
    calls: list[tuple[str | None, str | None]] = field(default_factory=list)
    _runner: ThreadedApp | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        user = request.authorization.username if request.authorization else None
        self.calls.append((request.args.get("scope"), user))
        if self.users is not None and not self._authorized(request):
            answer = Response('{"details":"invalid credentials"}', status=401, mimetype="application/json")
            return answer(environ, start_response)
        if request.args.get("service") != self.issuer.service:
            answer = Response('{"details":"unknown service"}', status=400, mimetype="application/json")
            return answer(environ, start_response)
        token = self.issuer.token(request.args.get("scope"), lifetime=self.lifetime, subject=user or "anonymous")
        body = {self.field_name: token, "expires_in": self.lifetime}
        answer = Response(json.dumps(body), mimetype="application/json")
        return answer(environ, start_response)

    def _authorized(self, request: Any) -> bool:
        auth = request.authorization
        if auth is None or self.users is None:
            return False
        return bool(self.users.get(auth.username) == auth.password)

    def start(self) -> TokenServer:
        self._runner = ThreadedApp(self.wsgi).start()
        return self

    @property
    def realm(self) -> str:
        assert self._runner is not None
        return f"{self._runner.url}/token"

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()

    def push_headers(self, name: str) -> dict[str, str]:
        """An Authorization header that lets a test push to ``name``."""
        return {"Authorization": "Bearer " + self.issuer.token(f"repository:{name}:pull,push")}
