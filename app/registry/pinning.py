"""Connections that go to the address the SSRF guard checked, not to a second DNS answer.

``AddressPolicy.check_url`` runs before each request, but the HTTP library would resolve the
name again to connect: a name answering with a public address first and an internal one next
(DNS rebinding) would pass the check and reach the internal one. These connection classes ask
the policy for the checked address and connect to it; TLS still verifies the certificate against
the host name, which is kept for SNI and the Host header.
"""

from __future__ import annotations

import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from app.registry.addresses import AddressPolicy, AddressRefused


def _pinned(base: type[HTTPConnection], policy: AddressPolicy) -> type[HTTPConnection]:
    class Pinned(base):  # type: ignore[valid-type,misc]  # a class made per policy
        def _new_conn(self) -> socket.socket:
            try:
                host: str = self._dns_host  # type: ignore[has-type]  # urllib3 sets it untyped
                self._dns_host = policy.connectable(host, self.port)
            except AddressRefused as exc:
                raise NewConnectionError(self, exc.reason) from None
            sock: socket.socket = super()._new_conn()
            return sock

    return Pinned


def pinned_adapter(policy: AddressPolicy) -> HTTPAdapter:
    """A requests adapter whose connections are checked and pinned by ``policy``."""
    http = type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _pinned(HTTPConnection, policy)})
    https = type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _pinned(HTTPSConnection, policy)})

    class PinnedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}

    return PinnedAdapter()
