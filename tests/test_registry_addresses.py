"""A policy cannot steer the registry client to internal addresses (server-side request forgery).

Policies name registry hosts; registries answer with redirects and token realms naming more.
Loopback, link-local (cloud metadata), private and other non-public addresses are refused
before any connection — by address, by a DNS name resolving there, and on every redirect hop —
unless the operator's own settings allow the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from conftest import KeyPair
from registry_server import LOOPBACK_NETWORKS, ThreadedApp
from test_registry_settings import env_for

from app.core.references import parse
from app.registry.addresses import AddressPolicy, AddressRefused, parse_networks
from app.registry.client import RegistryClient, RegistryConfig
from app.service.settings import Settings, SettingsError

pytestmark = pytest.mark.timeout(30)

# One address of each class a policy must not reach, with the word the refusal uses.
INTERNAL = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("[::1]", "loopback"),
    ("169.254.169.254", "link-local"),  # cloud metadata service
    ("[fe80::1]", "link-local"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.0.10", "private"),
    ("[fd00::5]", "private"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT shared space
    ("224.0.0.1", "multicast"),
]


def client(hosts: Iterable[str], addresses: AddressPolicy | None = None) -> RegistryClient:
    """A client whose allow-list (as a repository policy might set it) holds ``hosts``."""
    allowed = frozenset(hosts)
    config = RegistryConfig(
        allowed_hosts=allowed,
        insecure_hosts=allowed,
        connect_timeout=1,
        read_timeout=1,
        addresses=addresses or AddressPolicy(),
    )
    return RegistryClient(config)


@pytest.mark.parametrize(("host", "label"), INTERNAL)
def test_each_internal_address_class_is_refused_without_a_request(host: str, label: str) -> None:
    # "*": the widest allow-list a policy could ask for; the address check still applies.
    with client(["*"]) as c:
        answers = [c.resolve(parse(f"{host}/app:v1")), c.resolve(parse(f"{host}:5000/app:v1"))]
        assert c.requests_made == 0
    for answer in answers:
        assert answer.status == "unknown"
        assert f"refusing to contact a {label} address" in answer.reason
        assert "IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS" in answer.reason


def test_dns_name_resolving_to_loopback_is_refused() -> None:
    # "localhost" is resolved by the system resolver, as any name in a policy would be.
    with client(["localhost:5000"]) as c:
        answer = c.resolve(parse("localhost:5000/app:v1"))
        assert c.requests_made == 0
    assert answer.status == "unknown" and "loopback address (resolves to" in answer.reason


def test_name_with_any_internal_address_among_public_ones_is_refused() -> None:
    # A name answering with a public and a metadata address must not be tried at all.
    answers = {"mixed.example.test": ["93.184.216.34", "169.254.169.254"], "public.example.test": ["93.184.216.34"]}
    policy = AddressPolicy(resolver=lambda host, port: answers[host])
    with pytest.raises(AddressRefused, match=r"link-local address \(resolves to 169\.254\.169\.254\)"):
        policy.check("mixed.example.test", 443)
    policy.check("public.example.test", 443)  # public only: allowed
    policy.check_url("https://8.8.8.8/v2/")  # a public literal address: allowed


def test_unresolvable_name_is_refused_with_a_reason() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(AddressRefused, match="host name not found"):
        AddressPolicy(resolver=failing).check("nowhere.example.test", 443)


def test_operator_networks_allow_exactly_those_addresses() -> None:
    policy = AddressPolicy(parse_networks("127.0.0.1/32, 10.0.0.0/8"))
    policy.check("127.0.0.1", 5000)
    policy.check("10.200.0.1", 5000)
    policy.check("::ffff:127.0.0.1", 5000)
    for host in ("127.0.0.2", "169.254.169.254", "192.168.1.1"):
        with pytest.raises(AddressRefused):
            policy.check(host, 5000)


def redirecting_app(location: Callable[[str], str]) -> Callable[..., Iterable[bytes]]:
    """A registry on loopback that answers every request with a redirect to ``location(path)``."""
    seen: list[str] = []

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(environ["PATH_INFO"])
        start_response("307 Temporary Redirect", [("Location", location(environ["PATH_INFO"]))])
        return [b""]

    wsgi.seen = seen  # type: ignore[attr-defined]
    return wsgi


@pytest.fixture
def front() -> Iterator[tuple[ThreadedApp, list[str]]]:
    targets: list[str] = []
    app = redirecting_app(lambda path: targets[0] + path)
    with ThreadedApp(app) as runner:
        yield runner, targets


@pytest.mark.parametrize(
    ("target", "label"),
    [
        ("http://169.254.169.254", "link-local"),
        ("http://127.0.0.2:9", "loopback"),
        ("http://[::1]:9", "loopback"),
        ("http://[::ffff:169.254.169.254]", "link-local"),  # IPv4-mapped IPv6: no image reference spells it
        ("http://[::ffff:127.0.0.2]:9", "loopback"),
        ("http://10.0.0.1", "private"),
    ],
)
def test_redirect_to_an_internal_address_is_refused(
    front: tuple[ThreadedApp, list[str]], target: str, label: str
) -> None:
    runner, targets = front
    targets.append(target)
    # The operator allows exactly the front registry's address, not the rest of loopback.
    with client([runner.host], AddressPolicy(parse_networks("127.0.0.1/32"))) as c:
        answer = c.resolve(parse(f"{runner.host}/app:v1"))
        assert c.stats().requests_by_host == {runner.host: 1}
    assert answer.status == "unknown" and f"refusing to contact a {label} address" in answer.reason


def test_loopback_registry_is_reached_when_the_operator_allows_it(front: tuple[ThreadedApp, list[str]]) -> None:
    runner, targets = front
    targets.append(runner.url + "/again")
    with client([runner.host], LOOPBACK_NETWORKS) as c:
        answer = c.resolve(parse(f"{runner.host}/app:v1"))
        assert c.requests_made > 1  # it followed the redirects on the allowed network
    assert "more than" in answer.reason and "redirects" in answer.reason


def test_app_settings_read_the_allowed_networks(rsa_keys: KeyPair) -> None:
    settings = Settings.from_env(env_for(rsa_keys, IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS="127.0.0.1/32 10.0.0.0/8"))
    assert [str(n) for n in settings.registry.private_networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.registry.client_config().addresses.allowed_networks == settings.registry.private_networks
    default = Settings.from_env(env_for(rsa_keys)).registry.client_config()
    assert default.addresses.allowed_networks == ()
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env_for(rsa_keys, IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS="127.0.0.1/32 metadata"))
    assert any("IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS" in p and "'metadata'" in p for p in error.value.problems)


def test_a_name_rebound_to_loopback_after_the_check_is_not_connected_to(front: tuple[ThreadedApp, list[str]]) -> None:
    # DNS rebinding: the first answer (the check before the request) is public, the next one
    # (when connecting) is the loopback registry. The connection goes to the checked address,
    # which is checked again, so loopback is never reached.
    runner, targets = front
    targets.append("http://unused.example.test")
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]])
    policy = AddressPolicy(resolver=lambda host, port: next(answers))
    with client([f"rebind.example.test:{runner.port}"], policy) as c:
        answer = c.resolve(parse(f"rebind.example.test:{runner.port}/app:v1"))
    assert answer.status == "unknown"
    assert "cannot connect (refusing to contact a loopback address)" in answer.reason
    assert runner.app.seen == []  # type: ignore[attr-defined]


def test_connections_go_to_the_checked_address(front: tuple[ThreadedApp, list[str]]) -> None:
    # The name exists only for the policy's resolver: reaching the registry at all shows the
    # connection used the checked address rather than resolving the name again.
    runner, targets = front
    targets.append(runner.url + "/again")
    policy = AddressPolicy(parse_networks("127.0.0.1/32"), resolver=lambda host, port: ["127.0.0.1"])
    with client([f"registry.example.test:{runner.port}"], policy) as c:
        c.resolve(parse(f"registry.example.test:{runner.port}/app:v1"))
    assert runner.app.seen[0] == "/v2/app/manifests/v1"  # type: ignore[attr-defined]
