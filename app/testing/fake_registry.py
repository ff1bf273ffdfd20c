"""A minimal stand-in for an OCI registry's read API: ``HEAD|GET /v2/<name>/manifests/<tag>``.

Enough for the registry client's promotion checks in the sandbox (no blobs, no auth): each
image is a name, a tag and the digest of a manifest. Tests use the real ``docker-registry``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def manifest_for(build: str) -> bytes:
    """A manifest whose bytes (so digest) identify one build."""
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "annotations": {"build": build}}).encode()


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class FakeRegistry:
    """A WSGI app; ``push(name, tag, build)`` stores a manifest and returns its digest."""

    def __init__(self) -> None:
        self._manifests: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def push(self, name: str, tag: str, build: str) -> str:
        body = manifest_for(build)
        with self._lock:
            self._manifests[(name, tag)] = body
        return digest_of(body)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        if path in ("/v2", "/v2/"):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        name, sep, tag = path.removeprefix("/v2/").rpartition("/manifests/")
        with self._lock:
            body = self._manifests.get((name, tag)) if sep else None
        if body is None:
            error = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}).encode()
            start_response("404 Not Found", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(error)))])
            return [] if method == "HEAD" else [error]
        headers = [("Content-Type", MANIFEST_TYPE), ("Docker-Content-Digest", digest_of(body)),
                   ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]
