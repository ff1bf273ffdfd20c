"""Generic fixtures: an RSA key pair for the App, the fake GitHub served on loopback, a WSGI server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from secret_grep import LogCapture, leaks, private_key_lines

from app.testing.fake_github import FakeGitHub, serve_wsgi

APP_ID = 4242
INSTALLATION_ID = 1
ACCOUNT = "octo-org"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


def make_key_pair(bits: int = 2048) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private.decode("ascii"), public.decode("ascii"))


@pytest.fixture(scope="session")
def rsa_keys() -> KeyPair:
    """The App's key pair (generated once per run: key generation is the slow part)."""
    return make_key_pair()


@pytest.fixture
def fake_github(rsa_keys: KeyPair) -> Iterator[FakeGitHub]:
    """A fake GitHub serving on 127.0.0.1 (``fake_github.base_url``), knowing App ``APP_ID``.

    Installation ``INSTALLATION_ID`` covers every repository of ``ACCOUNT``.
    """
    fake = FakeGitHub(app_id=APP_ID, public_key=rsa_keys.public_pem)
    fake.add_installation(INSTALLATION_ID, ACCOUNT)
    with fake.serve():
        yield fake
    assert not fake.server_errors, "the fake GitHub crashed:\n" + "\n".join(fake.server_errors)


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """Serve WSGI apps over real HTTP on 127.0.0.1: ``url = serve_app(app)``; stopped after the test."""
    with ExitStack() as stack:

        def serve(app: Any) -> str:
            return stack.enter_context(serve_wsgi(app, name="app-under-test"))

        yield serve


@pytest.fixture(autouse=True)
def no_secret_in_logs(request: pytest.FixtureRequest, rsa_keys: KeyPair) -> Iterator[LogCapture]:
    """Every log line written during any test (all loggers, DEBUG up) holds no secret.

    Known values are the App's private key and the test module's webhook ``SECRET``; tokens,
    JWTs and credentials are found by their shape.
    """
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    secret = getattr(request.module, "SECRET", None)
    literals = [*private_key_lines(rsa_keys.private_pem), *([secret] if isinstance(secret, str) else [])]
    found = [(line, what) for line in capture.lines for what in leaks(line, literals)]
    assert not found, f"{len(found)} log lines hold a secret, e.g. {found[0][1]}: {found[0][0][:300]}"
