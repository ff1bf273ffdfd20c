"""A free TCP port on loopback for the servers the tests start, and a readiness probe for them."""

from __future__ import annotations

import socket

import requests

# A cold gunicorn accepts connections (the master listens) before its workers have imported
# the app: the first answer can take seconds on a busy machine.
PROBE_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, path: str = "/healthz") -> bool:
    """True once ``GET url+path`` answers 200; False while the server is not up or still warming
    (refused, reset, or accepted and not answered in time) -- the caller polls until its deadline."""
    try:
        return requests.get(f"{url}{path}", timeout=PROBE_TIMEOUT).status_code == 200
    except requests.RequestException:
        return False
