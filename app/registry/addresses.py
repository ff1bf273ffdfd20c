"""Which network addresses the registry client may contact (server-side request forgery guard).

A repository's policy names registry hosts, and registries answer with redirects and token
realms that name more hosts. None of them may steer the App to loopback, link-local (cloud
metadata at 169.254.169.254), private or otherwise non-public addresses — directly, through a
DNS name resolving there, or through a redirect — unless the operator allows those networks
in the App's own settings. Every outgoing request is checked here just before it is sent.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host name resolves to, as text.
Resolver = Callable[[str, int], list[str]]


class AddressRefused(Exception):
    """The host resolves to an address the App must not contact; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``127.0.0.1/32, 10.0.0.0/8 ::1`` as networks; ValueError names the first bad entry."""
    networks: list[IPNetwork] = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an address or network (CIDR): {item!r}") from None
    return tuple(networks)


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address ("loopback", ...), or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_class(address.ipv4_mapped)  # ::ffff:127.0.0.1 is loopback too
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),  # e.g. 100.64.0.0/10, shared address space
    )
    return next((label for matched, label in checks if matched), None)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def split_netloc(netloc: str, default_port: int) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (credentials stripped) as host and port."""
    parts = urlsplit("//" + netloc)
    host = parts.hostname or ""
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    return host, port


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses are always allowed; others only inside ``allowed_networks``."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver

    def check_url(self, url: str) -> None:
        """Raise AddressRefused unless every address the URL's host resolves to may be contacted."""
        parts = urlsplit(url)
        host, port = split_netloc(parts.netloc, 443 if parts.scheme == "https" else 80)
        self.check(host, port)

    def check(self, host: str, port: int) -> None:
        self.connectable(host, port)

    def connectable(self, host: str, port: int) -> str:
        """The address to connect to for ``host``, every address it resolves to checked.

        Connecting to the address checked here (not resolving the name again) leaves no window
        for a name that answers with a public address first and an internal one next.
        """
        display = f"{host}:{port}"
        addresses = list(self._addresses(host, port, display))
        for address in addresses:
            label = address_class(address)
            if label is not None and not self._allowed(address):
                resolved = "" if host == str(address) else f" (resolves to {address})"
                raise AddressRefused(
                    f"{display}: refusing to contact a {label} address{resolved}; "
                    "the App's settings do not allow this network (IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS)"
                )
        return str(addresses[0])

    def _addresses(self, host: str, port: int, display: str) -> Iterable[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            found = self.resolver(host, port)
        except OSError:
            raise AddressRefused(f"{display}: host name not found") from None
        if not found:
            raise AddressRefused(f"{display}: host name not found")
        # Scoped IPv6 addresses come back as "fe80::1%eth0".
        return [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]

    def _allowed(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_networks)
