"""The registry client against a real ``docker-registry`` (and small fakes) on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from registry_server import (
    LOOPBACK_NETWORKS,
    ImageBlobs,
    Pusher,
    RegistryServer,
    RegistryUnavailable,
    ThreadedApp,
    TokenAuthConfig,
    TokenIssuer,
    TokenServer,
    make_image,
    start_registry,
)
from werkzeug.wrappers import Request, Response

from app.core.references import ImageRef, parse
from app.registry.client import (
    ACCEPT_MANIFESTS,
    CredentialError,
    Credentials,
    CredentialStore,
    RegistryClient,
    RegistryConfig,
    credentials_from_env,
    env_var_for_host,
    parse_challenge,
    target_for,
)

pytestmark = pytest.mark.timeout(30)

# Test registries and token servers listen on loopback ports and speak plain http.
LOOPBACK = frozenset({"127.0.0.1:*"})


def running_registry(**kwargs: Any) -> RegistryServer:
    """Start a registry or fail the test with the install hint (never skip)."""
    try:
        return start_registry(**kwargs)
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client_for(*hosts: str, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> RegistryClient:
    config = RegistryConfig(
        allowed_hosts=frozenset(hosts),
        insecure_hosts=LOOPBACK,
        addresses=LOOPBACK_NETWORKS,
        connect_timeout=2.0,
        read_timeout=2.0,
        **kwargs,
    )
    return RegistryClient(config, clock=clock)


@dataclass
class Images:
    server: RegistryServer
    digests: dict[str, str]
    manifests: dict[str, bytes] = field(default_factory=dict)

    def ref(self, text: str) -> ImageRef:
        return parse(f"{self.server.host}/{text}")


@pytest.fixture(scope="module")
def registry() -> Iterator[Images]:
    server = running_registry()
    pusher = Pusher(server.url)
    image = make_image("etcd-manager v3.0.20220503")
    digests = {
        "schema2": pusher.push_image("k8s-staging-etcdadm/etcd-manager", "v3.0.20220428", image),
        "oci": pusher.push_image("oci/app", "v1", make_image("oci"), oci=True),
        "index": pusher.push_index("multi/app", "v1", "multi", ["amd64", "arm64"]),
    }
    manifests = {"schema2": pusher.image_manifest("k8s-staging-etcdadm/etcd-manager", image)}
    for i in range(20):
        digests[f"many-{i}"] = pusher.push_image(f"many/app{i}", "v1", make_image(f"many-{i}"))
    yield Images(server, digests, manifests)
    server.cleanup()


# --- Real registry: tags, digests, media types ---------------------------------------------------


def test_tag_resolves_to_sha256_of_manifest_bytes(registry: Images) -> None:
    with client_for(registry.server.host) as client:
        answer = client.resolve(registry.ref("k8s-staging-etcdadm/etcd-manager:v3.0.20220428"))
    expected = "sha256:" + hashlib.sha256(registry.manifests["schema2"]).hexdigest()
    assert answer.status == "found", answer.reason
    assert answer.digest == expected == registry.digests["schema2"]
    assert answer.media_type == "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize(
    ("text", "key", "media_type"),
    [
        ("oci/app:v1", "oci", "application/vnd.oci.image.manifest.v1+json"),
        ("multi/app:v1", "index", "application/vnd.oci.image.index.v1+json"),
    ],
)
def test_oci_manifest_and_index_digests(registry: Images, text: str, key: str, media_type: str) -> None:
    with client_for(registry.server.host) as client:
        answer = client.resolve(registry.ref(text))
    assert (answer.status, answer.digest, answer.media_type) == ("found", registry.digests[key], media_type)


def test_missing_tag_and_missing_repository_are_not_found(registry: Images) -> None:
    with client_for(registry.server.host) as client:
        missing_tag = client.resolve(registry.ref("k8s-staging-etcdadm/etcd-manager:v9.9.9"))
        missing_repo = client.resolve(registry.ref("nobody/here:v1"))
    assert missing_tag.status == "not-found"
    assert "v9.9.9" in missing_tag.reason and registry.server.host in missing_tag.reason
    assert missing_repo.status == "not-found"


def test_digest_reference_found_and_unknown_digest_not_found(registry: Images) -> None:
    digest = registry.digests["schema2"]
    with client_for(registry.server.host) as client:
        found = client.resolve(registry.ref(f"k8s-staging-etcdadm/etcd-manager@{digest}"))
        absent = client.resolve(registry.ref("k8s-staging-etcdadm/etcd-manager@sha256:" + "0" * 64))
    assert (found.status, found.digest) == ("found", digest)
    assert absent.status == "not-found"


def test_resolve_many_dedupes_and_keeps_order(registry: Images) -> None:
    refs = [registry.ref(f"many/app{i % 20}:v1") for i in range(60)]
    with client_for(registry.server.host) as client:
        answers = client.resolve_many(refs, max_workers=4)
        assert client.requests_made == 20
    assert [a.digest for a in answers] == [registry.digests[f"many-{i % 20}"] for i in range(60)]
    assert all(a.ref is r for a, r in zip(answers, refs, strict=True))


# --- Cache ---------------------------------------------------------------------------------------


def test_tag_cached_until_ttl(registry: Images) -> None:
    clock = FakeClock()
    ref = registry.ref("k8s-staging-etcdadm/etcd-manager:v3.0.20220428")
    with client_for(registry.server.host, clock=clock, tag_ttl=60) as client:
        first = client.resolve(ref)
        second = client.resolve(ref)
        assert client.requests_made == 1
        assert second.cached and second.digest == first.digest
        clock.advance(61)
        third = client.resolve(ref)
        assert client.requests_made == 2 and not third.cached


def test_digest_answers_never_expire(registry: Images) -> None:
    clock = FakeClock()
    digest = registry.digests["oci"]
    with client_for(registry.server.host, clock=clock, tag_ttl=1) as client:
        client.resolve(registry.ref(f"oci/app@{digest}"))
        clock.advance(10 * 365 * 86400)
        again = client.resolve(registry.ref(f"oci/app@{digest}"))
        assert client.requests_made == 1 and again.cached


def test_tag_answer_also_answers_its_digest(registry: Images) -> None:
    with client_for(registry.server.host) as client:
        tag = client.resolve(registry.ref("oci/app:v1"))
        by_digest = client.resolve(registry.ref(f"oci/app@{tag.digest}"))
        assert client.requests_made == 1 and by_digest.found


def test_negative_answers_cached_briefly(registry: Images) -> None:
    clock = FakeClock()
    ref = registry.ref("oci/app:not-yet")
    with client_for(registry.server.host, clock=clock, negative_ttl=30) as client:
        client.resolve(ref)
        client.resolve(ref)
        assert client.requests_made == 1
        clock.advance(31)
        client.resolve(ref)
        assert client.requests_made == 2


# --- Allow-list, docker.io, credentials from the environment --------------------------------------


def test_host_not_allow_listed_makes_no_network_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used for a host that is not allow-listed")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    client = RegistryClient(RegistryConfig(allowed_hosts=frozenset({"registry.k8s.io"})))
    answer = client.resolve(parse("quay.io/cilium/cilium:v1.15.0"))
    assert answer.status == "unknown"
    assert "not allow-listed" in answer.reason and "quay.io" in answer.reason
    assert client.requests_made == 0


def test_allow_list_globs() -> None:
    config = RegistryConfig()
    assert config.is_allowed("us-central1-docker.pkg.dev")
    assert config.is_allowed("eu.gcr.io") and config.is_allowed("registry-1.docker.io")
    assert not config.is_allowed("example.com")
    assert config.scheme_for("registry.k8s.io") == "https"


def test_docker_hub_names_map_to_the_api_host() -> None:
    target = target_for(parse("nginx:1.25"))
    assert (target.host, target.repository, target.reference) == (
        "registry-1.docker.io",
        "library/nginx",
        "1.25",
    )
    assert target_for(ImageRef("docker.io", "redis")).repository == "library/redis"
    assert target_for(parse("ghcr.io/org/app")).reference == "latest"


def test_credentials_from_env() -> None:
    env = {
        "IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO": "bot:tok:with:colons",
        "IMAGE_REVIEW_REGISTRY_AUTH_127_0_0_1_5000": "alice:pw",
        "IMAGE_REVIEW_REGISTRY_AUTH_DOCKER_IO": "hub:pw",
        "HOME": "/root",
    }
    store = credentials_from_env(env)
    assert store.for_host("ghcr.io") == Credentials("bot", "tok:with:colons")
    assert store.for_host("127.0.0.1:5000") == Credentials("alice", "pw")
    assert store.for_host("registry-1.docker.io") == Credentials("hub", "pw")
    assert store.for_host("quay.io") is None
    assert env_var_for_host("us-central1-docker.pkg.dev") == "IMAGE_REVIEW_REGISTRY_AUTH_US_CENTRAL1_DOCKER_PKG_DEV"
    assert "pw" not in repr(store.for_host("127.0.0.1:5000"))


def test_malformed_credentials_name_the_variable_not_the_secret() -> None:
    with pytest.raises(CredentialError, match="IMAGE_REVIEW_REGISTRY_AUTH_QUAY_IO") as info:
        credentials_from_env({"IMAGE_REVIEW_REGISTRY_AUTH_QUAY_IO": "secretwithoutuser"})
    assert "secretwithoutuser" not in str(info.value)


def test_parse_challenge() -> None:
    c = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'
    )
    assert c is not None and c.scheme == "bearer" and c.realm == "https://auth.docker.io/token"
    assert c.params["scope"] == "repository:library/nginx:pull"
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"


# --- Basic auth (htpasswd) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry() -> Iterator[Images]:
    server = running_registry(htpasswd={"alice": "s3cret"})
    digest = Pusher(server.url, auth=("alice", "s3cret")).push_image("private/app", "v1", make_image("private"))
    yield Images(server, {"private": digest})
    server.cleanup()


def test_basic_auth_with_credentials_from_env(basic_registry: Images) -> None:
    host = basic_registry.server.host
    store = credentials_from_env({env_var_for_host(host): "alice:s3cret"})
    with client_for(host, credentials=store) as client:
        first = client.resolve(basic_registry.ref("private/app:v1"))
        assert first.digest == basic_registry.digests["private"], first.reason
        assert client.requests_made == 2  # challenge, then answered
        client.resolve(basic_registry.ref("private/app:v2"))
        assert client.requests_made == 3  # the host is known to want Basic: sent up front


def test_basic_auth_without_credentials_is_unknown(basic_registry: Images) -> None:
    host = basic_registry.server.host
    with client_for(host) as client:
        answer = client.resolve(basic_registry.ref("private/app:v1"))
    assert answer.status == "unknown"
    assert "authentication" in answer.reason and host in answer.reason
    assert env_var_for_host(host) in answer.reason


def test_basic_auth_wrong_password_is_unknown(basic_registry: Images) -> None:
    host = basic_registry.server.host
    store = CredentialStore({host: Credentials("alice", "wrong")})
    with client_for(host, credentials=store) as client:
        answer = client.resolve(basic_registry.ref("private/app:v1"))
    assert answer.status == "unknown" and "authentication failed" in answer.reason and "rejected" in answer.reason


# --- Bearer tokens: the real registry's token auth and a token server on loopback ---------------


@dataclass
class TokenSetup:
    images: Images
    tokens: TokenServer


def _token_registry(tmp: Path, users: dict[str, str] | None) -> TokenSetup:
    issuer = TokenIssuer.create(tmp)
    tokens = TokenServer(issuer, users=users).start()
    auth = TokenAuthConfig(tokens.realm, issuer.service, issuer.issuer, issuer.cert_path)
    server = running_registry(token_auth=auth)
    pusher = Pusher(server.url, headers=tokens.push_headers("secure/app"))
    digests = {"v1": pusher.push_image("secure/app", "v1", make_image("secure-1"))}
    digests["v2"] = pusher.push_image("secure/app", "v2", make_image("secure-2"))
    other = Pusher(server.url, headers=tokens.push_headers("secure/other"))
    digests["other"] = other.push_image("secure/other", "v1", make_image("secure-other"))
    tokens.calls.clear()
    return TokenSetup(Images(server, digests), tokens)


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenSetup]:
    setup = _token_registry(tmp_path_factory.mktemp("token"), None)
    yield setup
    setup.images.server.cleanup()
    setup.tokens.stop()


@pytest.fixture(scope="module")
def private_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenSetup]:
    setup = _token_registry(tmp_path_factory.mktemp("private-token"), {"bob": "hunter2"})
    yield setup
    setup.images.server.cleanup()
    setup.tokens.stop()


def test_anonymous_bearer_flow_with_token_reuse(token_registry: TokenSetup) -> None:
    images, tokens = token_registry.images, token_registry.tokens
    tokens.calls.clear()
    with client_for(images.server.host) as client:
        v1 = client.resolve(images.ref("secure/app:v1"))
        assert v1.digest == images.digests["v1"], v1.reason
        assert client.requests_made == 3  # 401, token, retry
        v2 = client.resolve(images.ref("secure/app:v2"))
        assert v2.digest == images.digests["v2"]
        assert client.requests_made == 4  # cached token sent up front
        other = client.resolve(images.ref("secure/other:v1"))
        assert other.digest == images.digests["other"]
        assert client.requests_made == 6  # new scope: one token, one manifest request
    assert tokens.calls == [("repository:secure/app:pull", None), ("repository:secure/other:pull", None)]


def test_token_refetched_after_expiry(token_registry: TokenSetup) -> None:
    images, tokens = token_registry.images, token_registry.tokens
    clock = FakeClock()
    tokens.calls.clear()
    with client_for(images.server.host, clock=clock, tag_ttl=1) as client:
        client.resolve(images.ref("secure/app:v1"))
        clock.advance(tokens.lifetime + 1)
        assert client.resolve(images.ref("secure/app:v1")).found
    assert len(tokens.calls) == 2


def test_basic_credentials_are_sent_to_the_token_realm(private_token_registry: TokenSetup) -> None:
    images, tokens = private_token_registry.images, private_token_registry.tokens
    host = images.server.host
    tokens.calls.clear()
    store = CredentialStore({host: Credentials("bob", "hunter2")})
    with client_for(host, credentials=store) as client:
        answer = client.resolve(images.ref("secure/app:v1"))
    assert answer.digest == images.digests["v1"], answer.reason
    assert tokens.calls == [("repository:secure/app:pull", "bob")]


def test_token_realm_refusing_anonymous_is_unknown(private_token_registry: TokenSetup) -> None:
    images = private_token_registry.images
    with client_for(images.server.host) as client:
        answer = client.resolve(images.ref("secure/app:v1"))
    assert answer.status == "unknown"
    assert "authentication failed" in answer.reason and images.server.host in answer.reason


# --- Unreachable registries -------------------------------------------------------------------------


def test_stopped_registry_is_unknown_naming_the_host() -> None:
    server = running_registry()
    host = server.host
    server.cleanup()
    with client_for(host) as client:
        answer = client.resolve(parse(f"{host}/some/app:v1"))
        again = client.resolve(parse(f"{host}/some/app:v1"))
        assert client.requests_made == 2  # errors are not cached
    assert answer.status == "unknown" and again.status == "unknown"
    assert host in answer.reason and "connection refused" in answer.reason


def test_silent_registry_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections into the backlog, never answers
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        config = RegistryConfig(
            allowed_hosts=frozenset({host}),
            insecure_hosts=frozenset({host}),
            read_timeout=0.3,
            addresses=LOOPBACK_NETWORKS,
        )
        started = time.monotonic()
        answer = RegistryClient(config).resolve(parse(f"{host}/app:v1"))
    assert time.monotonic() - started < 5
    assert answer.status == "unknown" and host in answer.reason and "no answer within 0.3s" in answer.reason


# --- A fake registry for what the real one does not do ------------------------------------------------


@dataclass
class FakeRegistry:
    """Answers ``/v2/<kind>/<name>/manifests/<ref>``; ``kind`` picks the behaviour."""

    redirect_to: str = ""
    basic_user: str = ""
    delay: float = 0.05
    seen: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        self.seen.append(
            (
                request.method,
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Accept"),
            )
        )
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self.answer(request)(environ, start_response)
        finally:
            with self._lock:
                self.in_flight -= 1

    def answer(self, request: Request) -> Response:
        parts = request.path.split("/")
        kind = parts[2] if len(parts) > 2 else ""
        handler = getattr(self, "kind_" + kind.replace("-", "_"), None)
        if handler is None:
            return Response("{}", status=404)
        result: Response = handler(request)
        return result

    def kind_slow(self, request: Request) -> Response:
        time.sleep(self.delay)
        digest = "sha256:" + hashlib.sha256(request.path.encode()).hexdigest()
        return Response(b"", headers={"Docker-Content-Digest": digest})

    def kind_nodigest(self, request: Request) -> Response:
        body = json.dumps({"schemaVersion": 2, "path": request.path}).encode()
        return Response(body, content_type="application/vnd.oci.image.manifest.v1+json")

    def kind_garbledheader(self, request: Request) -> Response:
        body = json.dumps({"schemaVersion": 2, "path": request.path}).encode()
        return Response(body, headers={"Docker-Content-Digest": "not-a-digest"})

    def kind_unknownname(self, request: Request) -> Response:
        body = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]})
        return Response(body if request.method == "GET" else b"", status=400)

    def kind_broken(self, request: Request) -> Response:
        return Response("oops", status=503)

    def kind_limited(self, request: Request) -> Response:
        return Response("", status=429, headers={"Retry-After": "30"})

    def kind_loop(self, request: Request) -> Response:
        return Response("", status=302, headers={"Location": request.path})

    def kind_mirror(self, request: Request) -> Response:
        # Like registry.k8s.io: manifests are served from another host.
        if self.basic_user and (request.authorization is None or request.authorization.username != self.basic_user):
            return Response("", status=401, headers={"WWW-Authenticate": 'Basic realm="front"'})
        path = request.path.replace("/mirror/", "/", 1)
        return Response("", status=307, headers={"Location": self.redirect_to + path})

    def kind_bearer(self, request: Request) -> Response:
        if request.headers.get("Authorization") != "Bearer fresh-token":
            realm = f"http://{request.host}/token"
            challenge = f'Bearer realm="{realm}",service="fake",scope="repository:bearer/app:pull"'
            return Response("", status=401, headers={"WWW-Authenticate": challenge})
        return Response(b"", headers={"Docker-Content-Digest": "sha256:" + "b" * 64})

    def kind_token(self, request: Request) -> Response:
        return Response(json.dumps({"access_token": "fresh-token", "expires_in": 300}))


@pytest.fixture()
def fake() -> Iterator[tuple[FakeRegistry, ThreadedApp]]:
    registry = FakeRegistry()
    runner = ThreadedApp(_route(registry)).start()
    yield registry, runner
    runner.stop()


def _route(registry: FakeRegistry) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/token":
            environ["PATH_INFO"] = "/v2/token"
        return registry(environ, start_response)

    return app


def test_resolve_many_respects_max_workers(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    registry, runner = fake
    refs = [parse(f"{runner.host}/slow/app{i}:v1") for i in range(20)]
    with client_for(runner.host) as client:
        started = time.monotonic()
        answers = client.resolve_many(refs, max_workers=4)
        elapsed = time.monotonic() - started
    assert all(a.found for a in answers) and len({a.digest for a in answers}) == 20
    assert 2 <= registry.max_in_flight <= 4
    assert elapsed < 20 * registry.delay  # parallel, not one by one


def test_every_request_sends_all_manifest_media_types(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    registry, runner = fake
    with client_for(runner.host) as client:
        client.resolve(parse(f"{runner.host}/slow/app:v1"))
    accept = registry.seen[-1][3] or ""
    for media_type in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media_type in accept
    assert accept == ACCEPT_MANIFESTS


@pytest.mark.parametrize("kind", ["nodigest", "garbledheader"])
def test_head_without_usable_digest_header_falls_back_to_get(fake: tuple[FakeRegistry, ThreadedApp], kind: str) -> None:
    registry, runner = fake
    with client_for(runner.host) as client:
        answer = client.resolve(parse(f"{runner.host}/{kind}/app:v1"))
    body = json.dumps({"schemaVersion": 2, "path": f"/v2/{kind}/app/manifests/v1"}).encode()
    assert answer.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert [s[0] for s in registry.seen] == ["HEAD", "GET"]


def test_content_not_matching_the_requested_digest_is_refused(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    _, runner = fake
    with client_for(runner.host) as client:
        answer = client.resolve(parse(f"{runner.host}/nodigest/app@sha256:{'a' * 64}"))
    assert answer.status == "unknown" and "refusing" in answer.reason


def test_name_unknown_error_code_is_not_found(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    _, runner = fake
    with client_for(runner.host) as client:
        answer = client.resolve(parse(f"{runner.host}/unknownname/app:v1"))
    assert answer.status == "not-found" and "NAME_UNKNOWN" in answer.reason


def test_server_errors_and_rate_limits_are_unknown_and_not_cached(
    fake: tuple[FakeRegistry, ThreadedApp],
) -> None:
    _, runner = fake
    with client_for(runner.host) as client:
        broken = client.resolve(parse(f"{runner.host}/broken/app:v1"))
        client.resolve(parse(f"{runner.host}/broken/app:v1"))
        assert client.requests_made == 2
        limited = client.resolve(parse(f"{runner.host}/limited/app:v1"))
    assert broken.status == "unknown" and "HTTP 503" in broken.reason and runner.host in broken.reason
    assert limited.status == "unknown" and "rate limited" in limited.reason and "30s" in limited.reason


def test_redirect_loop_is_bounded(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    _, runner = fake
    with client_for(runner.host, max_redirects=3) as client:
        answer = client.resolve(parse(f"{runner.host}/loop/app:v1"))
        assert client.requests_made == 4
    assert answer.status == "unknown" and "more than 3 redirects" in answer.reason


def test_redirect_to_mirror(fake: tuple[FakeRegistry, ThreadedApp], registry: Images) -> None:
    fake_registry, runner = fake
    fake_registry.redirect_to = registry.server.url
    with client_for(runner.host, registry.server.host) as client:
        answer = client.resolve(parse(f"{runner.host}/mirror/oci/app:v1"))
        assert client.stats().requests_by_host == {runner.host: 1, registry.server.host: 1}
    assert (answer.status, answer.digest) == ("found", registry.digests["oci"])


def test_redirect_does_not_forward_credentials(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    front, front_runner = fake
    back = FakeRegistry()
    with ThreadedApp(back) as back_runner:
        front.redirect_to, front.basic_user = back_runner.url, "front"
        store = CredentialStore({front_runner.host: Credentials("front", "door")})
        with client_for(front_runner.host, back_runner.host, credentials=store) as client:
            answer = client.resolve(parse(f"{front_runner.host}/mirror/slow/app:v1"))
            assert client.stats().requests_by_host == {front_runner.host: 2, back_runner.host: 1}
    assert answer.found, answer.reason
    assert front.seen[-1][2] is not None and front.seen[-1][2].startswith("Basic ")
    assert back.seen == [("HEAD", "/v2/slow/app/manifests/v1", None, ACCEPT_MANIFESTS)]


def test_bearer_flow_reads_access_token(fake: tuple[FakeRegistry, ThreadedApp]) -> None:
    registry, runner = fake
    with client_for(runner.host) as client:
        answer = client.resolve(parse(f"{runner.host}/bearer/app:v1"))
    assert answer.digest == "sha256:" + "b" * 64, answer.reason
    assert [(m, p) for m, p, _, _ in registry.seen] == [
        ("HEAD", "/v2/bearer/app/manifests/v1"),
        ("GET", "/v2/token"),
        ("HEAD", "/v2/bearer/app/manifests/v1"),
    ]
    assert registry.seen[-1][2] == "Bearer fresh-token"


def test_plain_http_token_realm_refused_for_https_hosts() -> None:
    from app.registry.client import Authenticator, LookupFailed, _Transport

    config = RegistryConfig()
    auth = Authenticator(config, _Transport(config), time.monotonic)
    challenge = parse_challenge('Bearer realm="http://auth.example.com/token",service="x"')
    assert challenge is not None
    with pytest.raises(LookupFailed, match="refusing plain-http token realm"):
        auth._checked_realm(challenge, "registry.example.com")


def test_image_blobs_are_deterministic() -> None:
    assert make_image("a") == make_image("a")
    assert isinstance(make_image("a"), ImageBlobs) and make_image("a") != make_image("b")
