"""A small OCI distribution API client: does this tag or digest exist, and what is its digest?

Only manifest lookups are needed (``HEAD /v2/<name>/manifests/<reference>``), so this is a
thin layer over ``requests`` that adds what a review bot needs around it: anonymous and
credentialed bearer tokens, Basic auth, bounded redirects, timeouts, an allow-list of
registry hosts, a cache that knows tags move and digests do not, bounded concurrency, and
a request counter.  Every failure becomes a :class:`Resolution` with status ``unknown``
and a reason naming the registry; nothing here raises for an unreachable registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests

from app.core.references import ImageRef
from app.registry.addresses import AddressPolicy, AddressRefused
from app.registry.pinning import pinned_adapter

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# Without every type here a registry may convert the manifest (e.g. to schema 1) and
# answer with a different digest than the one a container runtime would pull.
ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"})

DEFAULT_ALLOWED_HOSTS = frozenset(
    {
        "registry.k8s.io",
        "k8s.gcr.io",
        "gcr.io",
        "*.gcr.io",
        "*-docker.pkg.dev",
        DOCKER_HUB,
        "ghcr.io",
        "quay.io",
        "public.ecr.aws",
        "mcr.microsoft.com",
    }
)

ENV_CREDENTIALS_PREFIX = "IMAGE_REVIEW_REGISTRY_AUTH_"
NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "TAG_UNKNOWN", "BLOB_UNKNOWN"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit on a manifest body
DEFAULT_TOKEN_LIFETIME = 60.0  # the token spec's default when ``expires_in`` is absent
TOKEN_EXPIRY_MARGIN = 5.0

ResolutionStatus = Literal["found", "not-found", "unknown"]


# --- Results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer for one reference: a digest, not found, or unknown with the reason."""

    ref: ImageRef
    status: ResolutionStatus
    digest: str | None = None
    media_type: str | None = None
    reason: str = ""
    cached: bool = False

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def not_found(self) -> bool:
        return self.status == "not-found"

    @property
    def unknown(self) -> bool:
        return self.status == "unknown"

    @property
    def registry(self) -> str:
        return self.ref.registry


@dataclass(frozen=True, slots=True)
class RegistryStats:
    requests: int
    requests_by_host: Mapping[str, int]
    cache_hits: int
    cache_misses: int


# --- Credentials ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class CredentialError(ValueError):
    """A credentials setting is malformed; the message names the setting, never the secret."""


def canonical_host(host: str) -> str:
    """Docker Hub answers under several names; credentials and allow-lists use ``docker.io``."""
    host = host.lower()
    return DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host


def env_var_for_host(host: str) -> str:
    """``ghcr.io`` → ``IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO``; ``127.0.0.1:5000`` → ``…_127_0_0_1_5000``."""
    return ENV_CREDENTIALS_PREFIX + re.sub(r"[.:\-]", "_", canonical_host(host)).upper()


class CredentialStore:
    """Per-registry credentials, keyed the way the environment names them.

    Keys are normalized to the environment-variable form so ``my-reg.io`` and ``my_reg.io``
    collide deliberately: the variable name cannot tell them apart either.
    """

    def __init__(self, by_host: Mapping[str, Credentials] | None = None) -> None:
        self._by_key = {env_var_for_host(h): c for h, c in (by_host or {}).items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CredentialStore:
        store = cls()
        for name, value in env.items():
            if name.startswith(ENV_CREDENTIALS_PREFIX) and len(name) > len(ENV_CREDENTIALS_PREFIX):
                store._by_key[name.upper()] = _parse_credentials(name, value)
        return store

    def for_host(self, host: str) -> Credentials | None:
        return self._by_key.get(env_var_for_host(host))

    def __len__(self) -> int:
        return len(self._by_key)


def _parse_credentials(name: str, value: str) -> Credentials:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise CredentialError(f"{name} must be 'user:password'")
    return Credentials(user, password)


def credentials_from_env(env: Mapping[str, str]) -> CredentialStore:
    """Read ``IMAGE_REVIEW_REGISTRY_AUTH_<HOST>=user:password`` entries from an env mapping."""
    return CredentialStore.from_env(env)


# --- Configuration --------------------------------------------------------------------------


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` matches one of the host names or globs (``*.gcr.io``, ``127.0.0.1:*``)."""
    host = canonical_host(host)
    return any(fnmatchcase(host, p.lower()) for p in patterns)


@dataclass(frozen=True)
class RegistryConfig:
    """How to talk to registries.  Times are seconds.

    ``allowed_hosts`` holds host names or globs (``*.gcr.io``); a reference elsewhere is
    answered ``unknown`` without any network traffic.  ``insecure_hosts`` are spoken to
    over plain http (loopback test registries); everything else uses https.
    ``addresses`` refuses loopback, link-local, private and other non-public addresses
    (after DNS resolution, on every hop) except the networks the operator allows.
    """

    allowed_hosts: frozenset[str] = DEFAULT_ALLOWED_HOSTS
    insecure_hosts: frozenset[str] = frozenset()
    credentials: CredentialStore = field(default_factory=CredentialStore)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tag_ttl: float = 300.0  # tags move: re-ask after this long
    negative_ttl: float = 60.0  # a missing tag may be pushed any minute
    error_ttl: float = 0.0  # failures are not remembered by default
    max_redirects: int = 5
    max_workers: int = 8
    cache_size: int = 10_000
    user_agent: str = "image-review"
    proxies: Mapping[str, str] | None = None
    addresses: AddressPolicy = field(default_factory=AddressPolicy)

    def is_allowed(self, host: str) -> bool:
        return host_matches(host, self.allowed_hosts)

    def is_insecure(self, host: str) -> bool:
        return host_matches(host, self.insecure_hosts)

    def scheme_for(self, host: str) -> str:
        return "http" if self.is_insecure(host) else "https"


def api_host(registry: str) -> str:
    """The host that serves the API for a registry name (Docker Hub's differs)."""
    return DOCKER_HUB_API if canonical_host(registry) == DOCKER_HUB else registry


def api_repository(registry: str, repository: str) -> str:
    if canonical_host(registry) == DOCKER_HUB and "/" not in repository:
        return "library/" + repository
    return repository


# --- Internals: failures, cache, transport -----------------------------------------------------


class LookupFailed(Exception):
    """Internal: the lookup cannot give an answer; ``reason`` says why, naming the host."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Target:
    registry: str
    host: str
    repository: str
    reference: str  # the digest when the ref has one, else the tag

    @property
    def by_digest(self) -> bool:
        return ":" in self.reference

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.host, self.repository, self.reference)

    @property
    def display(self) -> str:
        separator = "@" if self.by_digest else ":"
        return f"{self.repository}{separator}{self.reference}"


def target_for(ref: ImageRef) -> _Target:
    reference = ref.digest or ref.tag or "latest"
    return _Target(ref.registry, api_host(ref.registry), api_repository(ref.registry, ref.repository), reference)


class TTLCache:
    """A thread-safe LRU with per-entry expiry (``None`` = never expires)."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._entries: OrderedDict[tuple[str, str, str], tuple[Resolution, float | None]] = OrderedDict()
        self._max = max(1, max_entries)
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> Resolution | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires = entry
            if expires is not None and self._clock() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: tuple[str, str, str], value: Resolution, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            return
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            self._entries[key] = (value, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _short_error(exc: BaseException) -> str:
    """``[Errno 111] Connection refused`` out of requests' long nested message."""
    text = str(exc)
    refused = re.search(r"refusing to contact a [\w-]+ address", text)
    if refused:  # the address guard, when connecting (a name that resolved differently before)
        return refused.group(0)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip().lower()
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    return type(exc).__name__


class _Transport:
    """Sends requests (one ``requests.Session`` per thread) and counts them per host."""

    def __init__(self, config: RegistryConfig) -> None:
        self._config = config
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.by_host: Counter[str] = Counter()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Ignore ~/.netrc and proxy variables: netrc would attach credentials to any
            # host, including redirect targets; proxies are configured explicitly.
            session.trust_env = False
            if self._config.proxies:
                session.proxies.update(self._config.proxies)
            else:
                # Connect to the very address the guard checked (no second DNS answer).
                adapter = pinned_adapter(self._config.addresses)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_host.values())

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        host = urlsplit(url).netloc
        try:
            # Every hop (redirects, token realms) passes here, so none can reach an internal address.
            self._config.addresses.check_url(url)
        except AddressRefused as exc:
            raise LookupFailed(exc.reason) from None
        with self._lock:
            self.by_host[host] += 1
        timeout = (self._config.connect_timeout, self._config.read_timeout)
        try:
            return self._session().request(
                method,
                url,
                headers=dict(headers),
                params=dict(params) if params else None,
                timeout=timeout,
                allow_redirects=False,
                stream=True,  # read bodies only when needed, and never past the size limit
            )
        except requests.ConnectTimeout as exc:
            raise LookupFailed(f"{host}: connection timed out after {self._config.connect_timeout:g}s") from exc
        except requests.ReadTimeout as exc:
            raise LookupFailed(f"{host}: no answer within {self._config.read_timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise LookupFailed(f"{host}: cannot connect ({_short_error(exc)})") from exc
        except requests.RequestException as exc:
            raise LookupFailed(f"{host}: request failed ({_short_error(exc)})") from exc

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def read_body(response: requests.Response, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    host = urlsplit(response.url).netloc
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise LookupFailed(f"{host}: answer larger than {limit} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise LookupFailed(f"{host}: answer interrupted ({_short_error(exc)})") from exc
    finally:
        response.close()
    return b"".join(chunks)


# --- Authentication ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str  # "bearer" or "basic" (lower case)
    params: Mapping[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


_CHALLENGE_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="…",service="…",scope="…"`` → Challenge; None when unparseable."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


class Authenticator:
    """Turns 401 challenges into Authorization headers and remembers what each host wants.

    Tokens are cached per (realm, service, scope, user) until shortly before they expire.
    Once a host has challenged, later requests to it carry credentials up front, which
    saves the 401 round trip on every new repository.
    """

    def __init__(self, config: RegistryConfig, transport: _Transport, clock: Callable[[], float]) -> None:
        self._config = config
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}

    def known_header(self, host: str, repository: str) -> str | None:
        """The header to send before being asked, if this host challenged before."""
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        try:
            return self._header_for(challenge, host, pull_scope(repository))
        except LookupFailed:
            return None  # let the request go unauthenticated and the 401 path explain

    def answer(self, response: requests.Response, host: str, repository: str, rejected: str | None) -> str:
        """The Authorization header that answers this 401, or LookupFailed saying why not.

        ``rejected`` is the header that drew the 401, if any: a cached token equal to it
        is dropped, while a different cached token (fetched meanwhile by another thread)
        is reused.
        """
        raw = response.headers.get("WWW-Authenticate", "")
        challenge = parse_challenge(raw) if raw else None
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise LookupFailed(f"{host}: authentication required (unsupported challenge {raw[:80]!r})")
        with self._lock:
            self._challenges[host] = challenge
        scope = challenge.params.get("scope") or pull_scope(repository)
        return self._header_for(challenge, host, scope, rejected=rejected)

    def _header_for(self, challenge: Challenge, host: str, scope: str, rejected: str | None = None) -> str:
        creds = self._config.credentials.for_host(host)
        if challenge.scheme == "basic":
            if creds is None:
                raise LookupFailed(
                    f"{host}: authentication required and no credentials are configured "
                    f"(set {env_var_for_host(host)}=user:password)"
                )
            return creds.basic_header()
        return "Bearer " + self._token(challenge, host, scope, creds, rejected)

    def _token(
        self, challenge: Challenge, host: str, scope: str, creds: Credentials | None, rejected: str | None
    ) -> str:
        key = (challenge.realm, challenge.params.get("service", ""), scope, creds.username if creds else "")
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and (rejected == "Bearer " + cached[0] or self._clock() >= cached[1]):
                # Expired, or the registry just refused it: fetch a fresh one.
                del self._tokens[key]
                cached = None
        if cached is not None:
            return cached[0]
        token, lifetime = self._fetch_token(challenge, host, scope, creds)
        with self._lock:
            self._tokens[key] = (token, self._clock() + max(lifetime - TOKEN_EXPIRY_MARGIN, 0.0))
        return token

    def _fetch_token(self, challenge: Challenge, host: str, scope: str, creds: Credentials | None) -> tuple[str, float]:
        realm = self._checked_realm(challenge, host)
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        headers = {"User-Agent": self._config.user_agent, "Accept": "application/json"}
        if creds is not None:
            # Basic credentials for the registry go to its token service, as docker does.
            headers["Authorization"] = creds.basic_header()
        response = self._transport.send("GET", realm, headers, params)
        body = read_body(response, limit=1024 * 1024)
        return self._token_from_answer(response.status_code, body, host, realm, creds)

    def _checked_realm(self, challenge: Challenge, host: str) -> str:
        parts = urlsplit(challenge.realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LookupFailed(f"{host}: authentication required but the token realm {challenge.realm!r} is unusable")
        if parts.scheme == "http" and not self._config.is_insecure(parts.netloc):
            # Credentials and tokens must not travel in clear text to an arbitrary host.
            raise LookupFailed(f"{host}: refusing plain-http token realm {challenge.realm}")
        return challenge.realm

    @staticmethod
    def _token_from_answer(
        status: int, body: bytes, host: str, realm: str, creds: Credentials | None
    ) -> tuple[str, float]:
        realm_host = urlsplit(realm).netloc
        if status in (401, 403):
            who = f"credentials for {creds.username!r} were rejected" if creds else "anonymous access refused"
            raise LookupFailed(
                f"{host}: authentication failed at token service {realm_host} ({who}; "
                f"set {env_var_for_host(host)}=user:password if the image is private)"
            )
        if status != 200:
            raise LookupFailed(f"{host}: token service {realm_host} answered HTTP {status}")
        data = _json_object(body)
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise LookupFailed(f"{host}: token service {realm_host} answered without a token")
        expires_in = data.get("expires_in")
        lifetime = (
            float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_TOKEN_LIFETIME
        )
        return token, lifetime


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_codes(body: bytes) -> list[tuple[str, str]]:
    """``(code, message)`` pairs from a distribution error body ``{"errors": [...]}``."""
    errors = _json_object(body).get("errors")
    if not isinstance(errors, list):
        return []
    out = []
    for item in errors:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            out.append((item["code"], str(item.get("message", ""))))
    return out


# --- The client ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    """A lookup's outcome before it is tied to the caller's reference."""

    status: ResolutionStatus
    digest: str | None = None
    media_type: str | None = None
    reason: str = ""


_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


class RegistryClient:
    """Resolves image references against registries; safe to share between threads."""

    def __init__(self, config: RegistryConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or RegistryConfig()
        self._transport = _Transport(self.config)
        self._auth = Authenticator(self.config, self._transport, clock)
        self._cache = TTLCache(self.config.cache_size, clock)
        self._counts_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    # Public API

    def resolve(self, ref: ImageRef) -> Resolution:
        """The digest of ``ref`` (tag or digest), or not-found, or unknown with a reason."""
        return self._without_network(ref) or self._resolve_remote(ref)

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]:
        """Resolve in parallel (at most ``max_workers`` at once); one lookup per distinct target."""
        workers = self.config.max_workers if max_workers is None else max_workers
        if workers < 1:
            raise ValueError("max_workers must be at least 1")
        ordered = list(refs)
        unique: dict[tuple[str, str, str, str], ImageRef] = {}
        for ref in ordered:
            unique.setdefault(_dedupe_key(ref), ref)
        by_key: dict[tuple[str, str, str, str], Resolution] = {}
        remote: list[ImageRef] = []
        for key, ref in unique.items():
            quick = self._without_network(ref)
            if quick is None:
                remote.append(ref)
            else:
                by_key[key] = quick
        by_key.update(zip(map(_dedupe_key, remote), self._resolve_remote_all(remote, workers), strict=True))
        return [replace(by_key[_dedupe_key(r)], ref=r) for r in ordered]

    def allows(self, registry: str) -> bool:
        """Whether this client may ask ``registry`` at all (its configured allow-list)."""
        return self.config.is_allowed(registry)

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, token requests and redirect hops included."""
        return self._transport.total

    def stats(self) -> RegistryStats:
        with self._counts_lock:
            hits, misses = self._hits, self._misses
        return RegistryStats(self._transport.total, dict(self._transport.by_host), hits, misses)

    def clear_cache(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Resolution steps

    def _without_network(self, ref: ImageRef) -> Resolution | None:
        """The answer when no request is needed: refused by the allow-list, or cached."""
        if not self.config.is_allowed(ref.registry):
            return Resolution(ref, "unknown", reason=f"{ref.registry}: not allow-listed for registry lookups")
        cached = self._cache.get(target_for(ref).key)
        self._count(hit=cached is not None)
        return None if cached is None else replace(cached, ref=ref, cached=True)

    def _resolve_remote(self, ref: ImageRef) -> Resolution:
        target = target_for(ref)
        answer = self._lookup(target)
        resolution = Resolution(ref, answer.status, answer.digest, answer.media_type, answer.reason)
        self._remember(target, resolution)
        return resolution

    def _resolve_remote_all(self, refs: list[ImageRef], workers: int) -> list[Resolution]:
        if len(refs) <= 1 or workers == 1:
            return [self._resolve_remote(r) for r in refs]
        with ThreadPoolExecutor(max_workers=min(workers, len(refs)), thread_name_prefix="registry") as pool:
            return list(pool.map(self._resolve_remote, refs))

    # Caching

    def _count(self, *, hit: bool) -> None:
        with self._counts_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _remember(self, target: _Target, resolution: Resolution) -> None:
        cfg = self.config
        if resolution.unknown:
            self._cache.put(target.key, resolution, cfg.error_ttl)
        elif resolution.not_found:
            self._cache.put(target.key, resolution, cfg.negative_ttl)
        elif target.by_digest:
            self._cache.put(target.key, resolution, None)  # content-addressed: never changes
        else:
            self._cache.put(target.key, resolution, cfg.tag_ttl)
            if resolution.digest is not None:
                # The tag's digest exists in this repository for good; a later by-digest
                # check (promotion evidence) needs no request.
                by_digest = replace(target, reference=resolution.digest)
                self._cache.put(by_digest.key, resolution, None)

    # Lookup

    def _lookup(self, target: _Target) -> _Answer:
        try:
            return self._lookup_or_raise(target)
        except LookupFailed as exc:
            return _Answer("unknown", reason=exc.reason)

    def _lookup_or_raise(self, target: _Target) -> _Answer:
        url = (
            f"{self.config.scheme_for(target.host)}://{target.host}/v2/{target.repository}/manifests/{target.reference}"
        )
        response = self._follow(("HEAD", url), target)
        if response.status_code == 200 and _DIGEST_RE.match(response.headers.get("Docker-Content-Digest", "").strip()):
            return self._found(target, response, None)
        if response.status_code == 200 or _is_other_client_error(response.status_code):
            # No digest header (it is only a SHOULD), or an error a HEAD cannot explain
            # because it has no body: ask again with GET.
            response.close()
            response = self._follow(("GET", url), target)
            body = read_body(response)
            if response.status_code == 200:
                return self._found(target, response, body)
            return self._failure(target, response, body)
        response.close()
        return self._failure(target, response, b"")

    def _follow(self, request: tuple[str, str], target: _Target) -> requests.Response:
        """Send, answering 401s and following at most ``max_redirects`` redirects."""
        method, url = request
        for _ in range(self.config.max_redirects + 1):
            response = self._send_authorized(method, url, target)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            url = self._redirect_target(url, location)
        raise LookupFailed(f"{target.host}: more than {self.config.max_redirects} redirects")

    def _redirect_target(self, current: str, location: str) -> str:
        nxt = urljoin(current, location)
        parts = urlsplit(nxt)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LookupFailed(f"{urlsplit(current).netloc}: redirect to unusable location {location!r}")
        if urlsplit(current).scheme == "https" and parts.scheme == "http" and not self.config.is_insecure(parts.netloc):
            raise LookupFailed(f"{urlsplit(current).netloc}: refusing redirect from https to {nxt}")
        return nxt

    def _send_authorized(self, method: str, url: str, target: _Target) -> requests.Response:
        # Each hop authenticates for its own host, so a registry's credentials or token
        # never reach the mirror it redirects to.
        host = urlsplit(url).netloc
        # A mirror may name the repository differently; tokens are scoped to its name.
        repository = _repository_in(url) or target.repository
        headers = {"Accept": ACCEPT_MANIFESTS, "User-Agent": self.config.user_agent}
        known = self._auth.known_header(host, repository)
        if known is not None:
            headers["Authorization"] = known
        response = self._transport.send(method, url, headers)
        if response.status_code != 401:
            return response
        response.close()
        headers["Authorization"] = self._auth.answer(response, host, repository, known)
        response = self._transport.send(method, url, headers)
        if response.status_code == 401:
            response.close()
            creds = self.config.credentials.for_host(host)
            detail = f"credentials for {creds.username!r} were rejected" if creds else "anonymous access refused"
            raise LookupFailed(f"{host}: authentication failed ({detail})")
        return response

    def _found(self, target: _Target, response: requests.Response, body: bytes | None) -> _Answer:
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip() or None
        header = response.headers.get("Docker-Content-Digest", "").strip()
        digest = header if _DIGEST_RE.match(header) else None
        if body is not None:
            computed = "sha256:" + hashlib.sha256(body).hexdigest()
            if target.by_digest and target.reference.startswith("sha256:") and computed != target.reference:
                raise LookupFailed(
                    f"{target.host}: content for {target.reference} hashes to {computed}; refusing the answer"
                )
            digest = digest or computed
        else:
            response.close()
        if target.by_digest:
            digest = target.reference
        return _Answer("found", digest, media_type)

    def _failure(self, target: _Target, response: requests.Response, body: bytes) -> _Answer:
        status = response.status_code
        codes = error_codes(body)
        if status == 404 or any(code in NOT_FOUND_CODES for code, _ in codes):
            detail = f" ({codes[0][0]})" if codes else ""
            return _Answer("not-found", reason=f"{target.host}: {target.display} not found{detail}")
        detail = "; ".join(f"{c}: {m}" if m else c for c, m in codes[:2])
        if status == 429:
            retry = response.headers.get("Retry-After")
            after = f", retry after {retry}s" if retry else ""
            return _Answer("unknown", reason=f"{target.host}: rate limited (HTTP 429{after})")
        suffix = f" ({detail})" if detail else ""
        if status in (401, 403):
            return _Answer(
                "unknown",
                reason=f"{target.host}: access denied to {target.repository} (HTTP {status}){suffix}",
            )
        return _Answer("unknown", reason=f"{target.host}: HTTP {status} for {target.display}{suffix}")


_MANIFEST_PATH = re.compile(r"^(?:/.*)?/v2/(.+)/manifests/[^/]+$")


def _repository_in(url: str) -> str | None:
    """``https://h/v2/a/b/manifests/v1`` → ``a/b``."""
    match = _MANIFEST_PATH.match(urlsplit(url).path)
    return match.group(1) if match else None


def _is_other_client_error(status: int) -> bool:
    return 400 <= status < 500 and status not in (401, 404, 429)


def _dedupe_key(ref: ImageRef) -> tuple[str, str, str, str]:
    target = target_for(ref)
    return (ref.registry, *target.key)
