"""GitHub access: App authentication, installation clients, retries, conditional requests, call counts.

Two ways to talk to GitHub share one authentication and one retry policy:

* a PyGithub ``Github`` client per installation, for the object API (check runs, reviews, ...);
* ``RawClient``, a ``requests`` session for what PyGithub does poorly: the diff media type (with
  GitHub's 406 "diff too large" answer as ``DiffTooLarge``) and conditional fetches of file
  contents with ETags (a 304 costs no rate limit).

Both mount ``GitHubRetry``, a urllib3 ``Retry`` that sees every HTTP response: it counts calls and
records ``X-RateLimit-Remaining`` into an ``ApiCounter``, and retries 5xx, 429 and rate-limited
403 answers (POST and PATCH too) with backoff honouring ``Retry-After`` / ``X-RateLimit-Reset``,
bounded in attempts and in total time. A 5xx answer to one of the few writes that would be
doubled if sent again (``not_repeatable``) is handed back instead: GitHub may have carried it
out, and only the caller can look.

Errors are ``github.GithubException`` (or a subclass) whichever path raised them.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote, urlsplit

import github
import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github.GithubException import GithubException
from github.Requester import Requester
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "image-review"
JSON_MEDIA_TYPE = "application/vnd.github+json"
DIFF_MEDIA_TYPE = "application/vnd.github.diff"

class AppSettings(Protocol):
    """What the client needs of the App's settings (app.service.settings.Settings has it)."""

    @property
    def app_id(self) -> int: ...
    @property
    def private_key(self) -> str: ...
    @property
    def api_url(self) -> str: ...
    @property
    def github_backoff(self) -> float: ...
    @property
    def writes_per_minute(self) -> float: ...


# GitHub accepts App JWTs valid for at most 10 minutes; the issue time is backdated to absorb
# clock drift between us and GitHub.
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 9 * 60
# Installation tokens live one hour; renew well before so a request never carries a dying token.
TOKEN_REFRESH_MARGIN_SECONDS = 5 * 60

_RETRIED_5XX = frozenset({500, 502, 503, 504})
# Writes that create something each time they are carried out (a check run, a review, a comment)
# or append to it (a check run update's annotations). GitHub's gateway sometimes answers 5xx for
# a write that landed; sending these again blindly would double them.
_NOT_REPEATABLE = (
    ("POST", re.compile(r"/check-runs$")),
    ("PATCH", re.compile(r"/check-runs/\d+$")),
    ("POST", re.compile(r"/pulls/\d+/reviews$")),
    ("POST", re.compile(r"/pulls/\d+/comments/\d+/replies$")),
    ("POST", re.compile(r"/issues/\d+/comments$")),
)
_RATE_LIMIT_PHRASES = ("rate limit", "abuse detection")


# ---------------------------------------------------------------------------------------------
# Errors


class DiffTooLarge(GithubException):
    """GitHub refused to render a diff (406: more than 300 files or 20,000 lines); use the files API."""


class RetriesExhausted(GithubException):
    """A request kept failing with a retryable answer until the attempt or time bound ran out."""

    def __init__(
        self,
        status: int,
        data: Any,
        headers: dict[str, str] | None,
        *,
        method: str,
        url: str,
        attempts: int,
        elapsed: float,
        reason: str,
    ) -> None:
        message = f"GitHub API {method} {url} still failing after {attempts} attempt(s) over {elapsed:.1f}s ({reason})"
        super().__init__(status, data, headers, message)
        self.method = method
        self.url = url
        self.attempts = attempts
        self.elapsed = elapsed


class AppAuthError(GithubException):
    """The App could not obtain an installation token (bad key or App id, installation removed)."""


# ---------------------------------------------------------------------------------------------
# Counting


@dataclass(frozen=True)
class ApiStats:
    """A snapshot of an ApiCounter."""

    requests: int  # HTTP responses received, retried attempts included
    retries: int  # attempts that were answered with a retryable status and sent again
    errors: int  # attempts that got no HTTP response (connection failures)
    not_modified: int  # 304 answers (free of rate limit)
    by_status: Mapping[int, int]
    rate_limit_remaining: int | None
    rate_limit_reset: int | None


class ApiCounter:
    """Thread-safe tally of API traffic; a child also counts into its parent (per-review → process)."""

    def __init__(self, parent: ApiCounter | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._errors = 0
        self._by_status: Counter[int] = Counter()
        self._remaining: int | None = None
        self._reset: int | None = None

    def record_response(self, status: int, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset = _int_header(headers, "X-RateLimit-Reset")
        with self._lock:
            self._requests += 1
            self._by_status[status] += 1
            if remaining is not None:
                self._remaining = remaining
            if reset is not None:
                self._reset = reset
        if self._parent is not None:
            self._parent.record_response(status, headers)

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1
        if self._parent is not None:
            self._parent.record_retry()

    def record_error(self) -> None:
        with self._lock:
            self._errors += 1
        if self._parent is not None:
            self._parent.record_error()

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def rate_limit_remaining(self) -> int | None:
        with self._lock:
            return self._remaining

    def snapshot(self) -> ApiStats:
        with self._lock:
            return ApiStats(
                requests=self._requests,
                retries=self._retries,
                errors=self._errors,
                not_modified=self._by_status.get(304, 0),
                by_status=dict(self._by_status),
                rate_limit_remaining=self._remaining,
                rate_limit_reset=self._reset,
            )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))  # GitHub has been seen to send floats here
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Retries


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry. Tests shrink the numbers and replace ``sleep``."""

    max_attempts: int = 5  # the first attempt included
    max_elapsed: float = 60.0  # seconds from the first failed attempt to the last wait's end
    backoff_factor: float = 1.0  # waits of 1, 2, 4, ... seconds when GitHub gives no hint
    backoff_max: float = 30.0
    # GitHub asks for "at least one minute" after a secondary rate limit that names no wait.
    secondary_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    wall_clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)


class GitHubRetry(Retry):
    """urllib3 retry policy for GitHub that also counts every response.

    urllib3 asks ``is_retry`` about every response, but only with the status; deciding on a 403
    needs its headers and body. So ``is_retry`` says yes to everything and ``increment`` (which
    gets the response) decides: a response that should not be retried ends the request through
    ``MaxRetryError`` with ``raise_on_status=False``, which urllib3 answers by handing that
    response back unchanged. That one hook also makes every response countable, including the
    retried ones PyGithub never sees.

    Status retries deliberately ignore ``allowed_methods``, so POST and PATCH are retried too:
    rate-limit answers come before GitHub acts, and writes such as labels must survive a flaky
    gateway. A 5xx can follow a write that did land, so the writes that must not be doubled
    (``not_repeatable``) get their 5xx back: the caller looks before writing again. Connection
    read errors still follow urllib3's idempotent-methods rule: there the request may well have
    been processed.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        counter: ApiCounter | None = None,
        *,
        started: float | None = None,
        waited: float = 0.0,
        next_wait: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.counter = counter
        self.started = started
        self.waited = waited
        self.next_wait = next_wait
        # urllib3 counts connection-level retries against ``total``; the waits are ours (sleep()).
        kwargs.setdefault("total", self.policy.max_attempts - 1)
        kwargs["raise_on_status"] = False
        kwargs["respect_retry_after_header"] = False
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Self:
        kw.setdefault("policy", self.policy)
        kw.setdefault("counter", self.counter)
        kw.setdefault("started", self.started)
        kw.setdefault("waited", self.waited)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return True  # increment() decides, see the class docstring

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is None:
            return self._after_error(method, url, error, _pool, _stacktrace)
        if self.counter is not None:
            self.counter.record_response(response.status, response.headers)
        wait = None if response.status in _RETRIED_5XX and not_repeatable(method, url) else self._retry_wait(response)
        if wait is None:
            # Not retryable: urllib3 returns this response to the caller as it is.
            raise MaxRetryError(_pool, url or "", ResponseError("not retryable"))  # type: ignore[arg-type]
        self._check_budget(method or "", url or "", response, wait)
        retry = super().increment(method, url, response, None, _pool, _stacktrace)
        retry.started = self.started if self.started is not None else self.policy.clock()
        retry.waited = self.waited + wait
        retry.next_wait = wait
        if self.counter is not None:
            self.counter.record_retry()
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.next_wait > 0:
            self.policy.sleep(self.next_wait)

    def _after_error(
        self,
        method: str | None,
        url: str | None,
        error: Exception | None,
        pool: ConnectionPool | None,
        stacktrace: TracebackType | None,
    ) -> Self:
        if self.counter is not None:
            self.counter.record_error()
        retry = super().increment(method, url, None, error, pool, stacktrace)
        wait = self._backoff()
        if self._elapsed() + wait > self.policy.max_elapsed:
            raise MaxRetryError(pool, url or "", error)  # type: ignore[arg-type]
        retry.started = self.started if self.started is not None else self.policy.clock()
        retry.waited = self.waited + wait
        retry.next_wait = wait
        return retry

    def _retry_wait(self, response: BaseHTTPResponse) -> float | None:
        """Seconds to wait before retrying this response, or None when it is final."""
        status = response.status
        headers = response.headers
        if status == 429 or status in _RETRIED_5XX:
            hinted = self._hinted_wait(headers)
            return hinted if hinted is not None else self._backoff()
        if status != 403:
            return None
        hinted = self._hinted_wait(headers)
        if hinted is not None:
            return hinted
        # A 403 without rate-limit headers is a rate limit only if its message says so.
        data = _read_json(response)
        message = data.get("message", "") if isinstance(data, dict) else ""
        if isinstance(message, str) and any(p in message.lower() for p in _RATE_LIMIT_PHRASES):
            return max(self.policy.secondary_wait, self._backoff())
        # The body is consumed now, so the response cannot go back to the caller: raise what
        # PyGithub would have raised for it.
        raise Requester.createException(status, dict(headers), data)

    def _hinted_wait(self, headers: Mapping[str, str]) -> float | None:
        """The wait GitHub asked for: Retry-After, or the reset time of an exhausted rate limit."""
        retry_after = _parse_retry_after(headers.get("Retry-After"), self.policy.wall_clock)
        if retry_after is not None:
            return retry_after
        reset = _int_header(headers, "X-RateLimit-Reset")
        if headers.get("X-RateLimit-Remaining") == "0" and reset is not None:
            # One extra second: the reset instant is only known to the second.
            return max(0.0, reset - self.policy.wall_clock()) + 1.0
        return None

    def _backoff(self) -> float:
        consecutive = len(self.history)
        return float(min(self.policy.backoff_max, self.policy.backoff_factor * (2**consecutive)))

    def _elapsed(self) -> float:
        # With a real clock both terms agree; with a test's fake sleep only the waits add up.
        real = 0.0 if self.started is None else self.policy.clock() - self.started
        return max(real, self.waited)

    def _check_budget(self, method: str, url: str, response: BaseHTTPResponse, wait: float) -> None:
        attempts = len(self.history) + 1
        elapsed = self._elapsed()
        if attempts >= self.policy.max_attempts:
            reason = f"last answer {response.status}"
        elif elapsed + wait > self.policy.max_elapsed:
            reason = (
                f"last answer {response.status}; the next wait of {wait:.1f}s would exceed "
                f"the {self.policy.max_elapsed:.0f}s retry budget"
            )
        else:
            return
        data = _read_json(response)
        raise RetriesExhausted(
            response.status,
            data,
            dict(response.headers),
            method=method,
            url=url.split("?", 1)[0],
            attempts=attempts,
            elapsed=elapsed,
            reason=reason,
        )


def not_repeatable(method: str | None, url: str | None) -> bool:
    """Whether this request is a write that would be doubled if GitHub carried it out twice."""
    path = urlsplit(url or "").path.rstrip("/")
    verb = (method or "").upper()
    return any(verb == m and pattern.search(path) for m, pattern in _NOT_REPEATABLE)


def _parse_retry_after(value: str | None, wall_clock: Callable[[], float]) -> float | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - wall_clock())


def _read_json(response: BaseHTTPResponse) -> Any:
    """The decoded body of a response we are about to discard or raise for (connection released)."""
    try:
        body = response.read(decode_content=True)
    except Exception:  # a broken error body must not hide the status we are reporting
        return None
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return {"message": body[:500].decode("utf-8", errors="replace")}


# ---------------------------------------------------------------------------------------------
# Sessions


class _BearerAuth(requests.auth.AuthBase):
    """Sets Authorization on each request from a callable, so a renewed token is picked up."""

    def __init__(self, header: Callable[[], str]) -> None:
        self._header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header()
        return request


def make_session(policy: RetryPolicy, counter: ApiCounter | None, authorization: Callable[[], str]) -> requests.Session:
    """A requests session with GitHub's headers, the retry adapter and per-request authorization."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=GitHubRetry(policy, counter))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.auth = _BearerAuth(authorization)
    session.headers.update({"Accept": JSON_MEDIA_TYPE, "User-Agent": USER_AGENT, "X-GitHub-Api-Version": API_VERSION})
    return session


def raise_for_github(response: requests.Response) -> None:
    """Raise the GithubException PyGithub would raise for this error response."""
    try:
        data: Any = response.json()
    except ValueError:
        data = {"message": response.text[:500]} if response.text else None
    raise Requester.createException(response.status_code, dict(response.headers), data)


# ---------------------------------------------------------------------------------------------
# App authentication


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds


class AppAuth:
    """The App's identity: JWTs, and installation tokens cached until shortly before they expire."""

    def __init__(
        self,
        app_id: int,
        private_key: str,
        api_url: str = DEFAULT_API_URL,
        *,
        policy: RetryPolicy | None = None,
        counter: ApiCounter | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = TOKEN_REFRESH_MARGIN_SECONDS,
        timeout: float = 15.0,
    ) -> None:
        key = load_pem_private_key(private_key.encode("utf-8"), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App private key must be an RSA key")
        self.app_id = app_id
        self.api_url = api_url.rstrip("/")
        self.counter = counter or ApiCounter()
        self._key = key
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._timeout = timeout
        self._session = make_session(policy or RetryPolicy(), self.counter, lambda: f"Bearer {self.jwt()}")
        self._tokens: dict[int, InstallationToken] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id}, api_url={self.api_url!r})"

    def jwt(self) -> str:
        now = int(self._clock())
        claims = {
            "iat": now - JWT_BACKDATE_SECONDS,
            "exp": now + JWT_LIFETIME_SECONDS,
            "iss": str(self.app_id),
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def installation_token(self, installation_id: int) -> str:
        """A token for the installation, from the cache unless it is about to expire."""
        cached = self._tokens.get(installation_id)
        if cached is not None and self._fresh(cached):
            return cached.token
        # One fetch per installation at a time; other installations are not held up.
        with self._lock_for(installation_id):
            cached = self._tokens.get(installation_id)
            if cached is not None and self._fresh(cached):
                return cached.token
            token = self._fetch_token(installation_id)
            self._tokens[installation_id] = token
            return token.token

    def invalidate(self, installation_id: int) -> None:
        """Forget a cached token (e.g. after GitHub answered 401 to it)."""
        self._tokens.pop(installation_id, None)

    def app_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request authenticated as the App itself (``/app/...`` endpoints); errors raise."""
        kwargs.setdefault("timeout", self._timeout)
        response = self._session.request(method, self.api_url + path, **kwargs)
        if response.status_code >= 400:
            raise_for_github(response)
        return response

    def close(self) -> None:
        self._session.close()

    def _fresh(self, token: InstallationToken) -> bool:
        return self._clock() < token.expires_at - self._refresh_margin

    def _lock_for(self, installation_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(installation_id, threading.Lock())

    def _fetch_token(self, installation_id: int) -> InstallationToken:
        url = f"{self.api_url}/app/installations/{installation_id}/access_tokens"
        response = self._session.post(url, timeout=self._timeout)
        if response.status_code != 201:
            try:
                detail = response.json().get("message", "")
            except ValueError:
                detail = ""
            raise AppAuthError(
                response.status_code,
                None,
                dict(response.headers),
                f"could not get a token for installation {installation_id} of App {self.app_id}: "
                f"{response.status_code} {detail}".rstrip(),
            )
        data = response.json()
        expires = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
        return InstallationToken(token=str(data["token"]), expires_at=expires.timestamp())


class _InstallationAuth(github.Auth.Auth):
    """PyGithub authentication that asks AppAuth for the (cached, renewed) installation token."""

    def __init__(self, app_auth: AppAuth, installation_id: int) -> None:
        self._app_auth = app_auth
        self._installation_id = installation_id

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._app_auth.installation_token(self._installation_id)

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


# ---------------------------------------------------------------------------------------------
# Clients


@dataclass(frozen=True)
class ClientOptions:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: int = 15
    per_page: int = 100
    # Completable objects are fetched only when an attribute is missing: saves calls.
    lazy: bool = True
    # PyGithub's spacing of requests, as GitHub advises against secondary rate limits; 0 in tests.
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0

    @classmethod
    def from_settings(cls, settings: AppSettings) -> ClientOptions:
        """The production options, with the knobs the settings expose (see app.service.settings)."""
        base = cls()
        paced = settings.writes_per_minute > 0
        return cls(
            retry=RetryPolicy(backoff_factor=settings.github_backoff),
            seconds_between_requests=base.seconds_between_requests if paced else 0,
            seconds_between_writes=base.seconds_between_writes if paced else 0,
        )


def installation_github(
    app_auth: AppAuth,
    installation_id: int,
    *,
    options: ClientOptions | None = None,
    counter: ApiCounter | None = None,
) -> github.Github:
    """A PyGithub client acting as the installation, against the App's API URL."""
    options = options or ClientOptions()
    return github.Github(
        base_url=app_auth.api_url,
        auth=_InstallationAuth(app_auth, installation_id),
        retry=GitHubRetry(options.retry, counter),
        per_page=options.per_page,
        timeout=options.timeout,
        user_agent=USER_AGENT,
        seconds_between_requests=options.seconds_between_requests or None,
        seconds_between_writes=options.seconds_between_writes or None,
        lazy=options.lazy,
        api_version=API_VERSION,
    )


@dataclass(frozen=True)
class CachedContent:
    etag: str
    text: str


class ContentCache:
    """ETag'd file contents keyed by (repo, path, ref); least recently used entries go first."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 16 * 1024 * 1024) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str, str], CachedContent] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, repo: str, path: str, ref: str) -> CachedContent | None:
        key = (repo.lower(), path, ref)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, repo: str, path: str, ref: str, entry: CachedContent) -> None:
        size = len(entry.text)
        if size > self._max_bytes:
            return
        key = (repo.lower(), path, ref)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.text)
            self._entries[key] = entry
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.text)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class RawClient:
    """Plain HTTP requests to the REST API with the installation token and the retry policy."""

    def __init__(
        self,
        api_url: str,
        session: requests.Session,
        *,
        cache: ContentCache | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session
        self.cache = cache if cache is not None else ContentCache()
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200, 201, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """Send ``method path``; a status outside ``expect`` raises the matching GithubException."""
        kwargs.setdefault("timeout", self._timeout)
        response = self.session.request(method, self.api_url + path, **kwargs)
        if response.status_code not in tuple(expect):
            raise_for_github(response)
        return response

    def pull_diff(self, repo: str, number: int) -> str:
        """The pull request's unified diff; DiffTooLarge when GitHub will not render it."""
        return self._diff(f"/repos/{repo}/pulls/{number}", f"{repo}#{number}")

    def commit_diff(self, repo: str, sha: str) -> str:
        return self._diff(f"/repos/{repo}/commits/{sha}", f"{repo}@{sha[:12]}")

    def file_text(self, repo: str, path: str, ref: str) -> str | None:
        """A file's text at ``ref`` (None when absent), revalidated with If-None-Match when cached."""
        cached = self.cache.get(repo, path, ref)
        headers = {"If-None-Match": cached.etag} if cached is not None else {}
        response = self.request(
            "GET",
            f"/repos/{repo}/contents/{quote(path, safe='/')}",
            params={"ref": ref},
            headers=headers,
            expect=(200, 304, 404),
        )
        if response.status_code == 404:
            return None
        if response.status_code == 304:
            if cached is None:  # cannot happen unless the server ignores our (absent) condition
                raise GithubException(304, None, dict(response.headers), f"unexpected 304 for {path}")
            return cached.text
        text = _decode_contents(response.json(), repo, path, ref)
        etag = response.headers.get("ETag")
        if etag:
            self.cache.put(repo, path, ref, CachedContent(etag=etag, text=text))
        return text

    def _diff(self, path: str, what: str) -> str:
        response = self.request("GET", path, headers={"Accept": DIFF_MEDIA_TYPE}, expect=(200, 406, 422))
        if response.status_code == 200:
            return response.content.decode("utf-8", errors="replace")
        data = _json_or_none(response)
        if response.status_code == 406 or _says_too_large(data):
            message = data.get("message") if isinstance(data, dict) else None
            raise DiffTooLarge(
                response.status_code,
                data,
                dict(response.headers),
                f"GitHub will not render the diff of {what}: {message or 'too large'}",
            )
        raise_for_github(response)
        raise AssertionError("unreachable")  # raise_for_github always raises


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _says_too_large(data: Any) -> bool:
    errors = data.get("errors") if isinstance(data, dict) else None
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("code") == "too_large" for e in errors)


def _decode_contents(data: Any, repo: str, path: str, ref: str) -> str:
    where = f"{repo}:{path}@{ref}"
    if not isinstance(data, dict) or data.get("type") != "file":
        raise GithubException(200, None, None, f"{where} is not a file")
    if data.get("encoding") != "base64":
        # GitHub leaves content empty (encoding "none") for files over 1 MB.
        raise GithubException(200, None, None, f"{where} is too large for the contents API")
    try:
        return base64.b64decode(str(data.get("content", ""))).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise GithubException(200, None, None, f"{where} is not UTF-8 text") from exc


@dataclass
class InstallationClient:
    """Everything one job needs to talk to GitHub as one installation."""

    installation_id: int
    github: github.Github
    raw: RawClient
    counter: ApiCounter
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # also paces the caller's own retries

    def close(self) -> None:
        self.github.close()
        self.raw.session.close()

    def __enter__(self) -> InstallationClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GitHubApp:
    """The process-wide GitHub access point: App auth, the contents cache, a total call counter."""

    def __init__(
        self,
        app_id: int,
        private_key: str,
        api_url: str = DEFAULT_API_URL,
        *,
        options: ClientOptions | None = None,
        clock: Callable[[], float] = time.time,
        cache: ContentCache | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        self.total = ApiCounter()
        self.auth = AppAuth(
            app_id,
            private_key,
            api_url,
            policy=self.options.retry,
            counter=ApiCounter(parent=self.total),
            clock=clock,
            timeout=self.options.timeout,
        )
        self.cache = cache if cache is not None else ContentCache()

    @classmethod
    def from_settings(cls, settings: AppSettings, **kwargs: Any) -> GitHubApp:
        if kwargs.get("options") is None:
            kwargs["options"] = ClientOptions.from_settings(settings)
        return cls(settings.app_id, settings.private_key, settings.api_url, **kwargs)

    def client(self, installation_id: int) -> InstallationClient:
        """A client with its own counter (one per job), counting into ``total`` as well."""
        counter = ApiCounter(parent=self.total)
        session = make_session(
            self.options.retry,
            counter,
            lambda: f"token {self.auth.installation_token(installation_id)}",
        )
        return InstallationClient(
            installation_id=installation_id,
            github=installation_github(self.auth, installation_id, options=self.options, counter=counter),
            raw=RawClient(self.auth.api_url, session, cache=self.cache, timeout=self.options.timeout),
            counter=counter,
            retry=self.options.retry,
        )

    def close(self) -> None:
        self.auth.close()
