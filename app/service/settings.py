"""Every setting from the environment, validated once, with one clear message per problem.

Secrets (the App's private key, the webhook secret, a Redis URL that may hold a password) are
kept out of ``repr()`` and out of every error message: configuration errors end up in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.jobs.model import SQLITE_SYNC_CHOICES, QueueSettings
from app.registry.addresses import AddressPolicy, IPNetwork, parse_networks
from app.registry.client import DEFAULT_ALLOWED_HOSTS, CredentialError, CredentialStore, RegistryConfig
from app.service.budget import ReviewBudget

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_DATA_DIR = "./data"
# GitHub caps webhook payloads at 25 MB; anything bigger is not from GitHub.
DEFAULT_MAX_BODY = 25 * 1024 * 1024
DEFAULT_GITHUB_BACKOFF = 1.0
DEFAULT_WRITES_PER_MINUTE = 80.0

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """The environment does not describe a usable configuration; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


@dataclass(frozen=True)
class RegistrySettings:
    """How the App asks registries whether tags exist (registry verification).

    ``allowed_hosts`` caps what any repository's policy can allow-list, so a policy cannot send
    the App to an internal address; ``insecure_hosts`` (plain http, e.g. a loopback test
    registry) are allowed too, since naming them is the operator's decision.
    ``private_networks`` are the only non-public networks (loopback, link-local, private
    ranges) the App may contact, whatever a host name resolves to; empty by default.
    """

    verify: bool = True
    allowed_hosts: tuple[str, ...] = tuple(sorted(DEFAULT_ALLOWED_HOSTS))
    insecure_hosts: tuple[str, ...] = ()
    credentials: CredentialStore = field(default_factory=CredentialStore, repr=False, compare=False)
    timeout: float = 5.0  # seconds to connect, and again to read an answer
    max_workers: int = 8  # concurrent lookups per review
    private_networks: tuple[IPNetwork, ...] = ()

    def client_config(self) -> RegistryConfig:
        return RegistryConfig(
            allowed_hosts=frozenset(self.allowed_hosts) | frozenset(self.insecure_hosts),
            insecure_hosts=frozenset(self.insecure_hosts),
            credentials=self.credentials,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            max_workers=self.max_workers,
            addresses=AddressPolicy(self.private_networks),
        )


@dataclass(frozen=True)
class Settings:
    app_id: int
    private_key: str = field(repr=False)  # PEM text, already checked to be an RSA private key
    webhook_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    max_body: int = DEFAULT_MAX_BODY
    # Seconds of the first wait before retrying a GitHub request GitHub named no wait for
    # (a 5xx); each next wait doubles. Retry-After and rate-limit resets are always honoured.
    github_backoff: float = DEFAULT_GITHUB_BACKOFF
    # Content-creating requests per minute and installation (GitHub's secondary limit is about
    # 80). 0 turns pacing off, PyGithub's own spacing of requests included: for benches and
    # tests against a local fake, never against GitHub.
    writes_per_minute: float = DEFAULT_WRITES_PER_MINUTE
    # Registry verification: whether and how the App asks registries (IMAGE_REVIEW_REGISTRY_*).
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    # What one review may take: analysis wall time, and diff text held (IMAGE_REVIEW_REVIEW_*).
    review_budget: ReviewBudget = field(default_factory=ReviewBudget)
    # The job queue's tuning (IMAGE_REVIEW_JOB_*, IMAGE_REVIEW_DEDUPE_TTL, IMAGE_REVIEW_SQLITE_SYNC);
    # its store comes from data_dir and redis_url (see `queue`).
    queue_tuning: QueueSettings = field(default_factory=QueueSettings)

    @property
    def queue(self) -> QueueSettings:
        """The queue's settings: every process on a store must build its queue from these."""
        return replace(self.queue_tuning, data_dir=self.data_dir, redis_url=self.redis_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check every setting; raise SettingsError naming every problem at once."""
        problems: list[str] = []
        app_id = _app_id(env, problems)
        private_key = _private_key(env, problems)
        webhook_secret = _required(env, "GITHUB_WEBHOOK_SECRET", problems)
        api_url = _api_url(env, problems)
        redis_url = _redis_url(env, problems)
        max_body = _max_body(env, problems)
        github_backoff = _non_negative(env, "IMAGE_REVIEW_GITHUB_BACKOFF", DEFAULT_GITHUB_BACKOFF, problems)
        writes_per_minute = _non_negative(env, "IMAGE_REVIEW_WRITES_PER_MINUTE", DEFAULT_WRITES_PER_MINUTE, problems)
        registry = registry_settings(env, problems)
        review_budget = _review_budget(env, problems)
        queue_tuning = _queue_tuning(env, problems)
        if problems:
            raise SettingsError(problems)
        assert app_id is not None and private_key is not None and webhook_secret is not None
        return cls(
            app_id=app_id,
            private_key=private_key,
            webhook_secret=webhook_secret,
            api_url=api_url,
            data_dir=Path(_value(env, "IMAGE_REVIEW_DATA_DIR") or DEFAULT_DATA_DIR),
            redis_url=redis_url,
            max_body=max_body,
            github_backoff=github_backoff,
            writes_per_minute=writes_per_minute,
            registry=registry,
            review_budget=review_budget,
            queue_tuning=queue_tuning,
        )


def _queue_tuning(env: Mapping[str, str], problems: list[str]) -> QueueSettings:
    base = QueueSettings()
    return replace(
        base,
        retries=_whole(env, "IMAGE_REVIEW_JOB_RETRIES", base.retries, problems),
        retry_delay=_non_negative(env, "IMAGE_REVIEW_JOB_RETRY_DELAY", base.retry_delay, problems),
        lease_seconds=_non_negative(env, "IMAGE_REVIEW_JOB_LEASE", base.lease_seconds, problems),
        dedupe_ttl=_non_negative(env, "IMAGE_REVIEW_DEDUPE_TTL", base.dedupe_ttl, problems),
        sqlite_sync=_choice(env, "IMAGE_REVIEW_SQLITE_SYNC", base.sqlite_sync, SQLITE_SYNC_CHOICES, problems),
    )


def _whole(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = _value(env, name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        problems.append(f"{name} must be a whole number, got {raw.strip()!r}")
        return default
    if value < 0:
        problems.append(f"{name} must not be negative, got {raw.strip()!r}")
        return default
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...], problems: list[str]) -> str:
    raw = _value(env, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}, got {raw.strip()!r}")
        return default
    return value


def _value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, with an empty or blank value treated as unset."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    return raw


def _required(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    value = _value(env, name)
    if value is None:
        problems.append(f"{name} is not set")
    return value


def _app_id(env: Mapping[str, str], problems: list[str]) -> int | None:
    raw = _required(env, "GITHUB_APP_ID", problems)
    if raw is None:
        return None
    try:
        app_id = int(raw.strip())
    except ValueError:
        problems.append(f"GITHUB_APP_ID must be the App's numeric id, got {raw.strip()!r}")
        return None
    if app_id <= 0:
        problems.append(f"GITHUB_APP_ID must be a positive integer, got {app_id}")
        return None
    return app_id


def _private_key(env: Mapping[str, str], problems: list[str]) -> str | None:
    inline = _value(env, "GITHUB_PRIVATE_KEY")
    path = _value(env, "GITHUB_PRIVATE_KEY_FILE")
    if inline is not None and path is not None:
        problems.append("set only one of GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_FILE")
        return None
    if inline is not None:
        # Many deployment tools cannot hold multi-line values: accept "\n" written literally.
        return _checked_key(inline.replace("\\n", "\n"), "GITHUB_PRIVATE_KEY", problems)
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            problems.append(f"GITHUB_PRIVATE_KEY_FILE: cannot read {path}: {reason}")
            return None
        return _checked_key(text, f"GITHUB_PRIVATE_KEY_FILE ({path})", problems)
    problems.append("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE must be set (the App's private key, PEM)")
    return None


def _checked_key(pem: str, source: str, problems: list[str]) -> str | None:
    """Parse the key once so a bad key fails at startup, not on the first webhook.

    The parser's own message is not passed on: it could quote part of the key.
    """
    try:
        key = load_pem_private_key(pem.strip().encode("utf-8"), password=None)
    except (ValueError, TypeError):
        problems.append(f"{source} is not a PEM-encoded, unencrypted private key")
        return None
    except Exception:  # the parser may raise its own error types for malformed input
        problems.append(f"{source} could not be parsed as a PEM private key")
        return None
    if not isinstance(key, RSAPrivateKey):
        problems.append(f"{source} must be an RSA private key (GitHub Apps sign with RS256)")
        return None
    return pem.strip() + "\n"


def _api_url(env: Mapping[str, str], problems: list[str]) -> str:
    raw = _value(env, "GITHUB_API_URL")
    if raw is None:
        return DEFAULT_API_URL
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        problems.append(
            f"GITHUB_API_URL must be an http(s) URL such as {DEFAULT_API_URL} "
            f"or https://ghe.example.com/api/v3, got {url!r}"
        )
    return url


def _redis_url(env: Mapping[str, str], problems: list[str]) -> str | None:
    raw = _value(env, "REDIS_URL")
    if raw is None:
        return None
    url = raw.strip()
    scheme = urlsplit(url).scheme
    if scheme not in _REDIS_SCHEMES:
        # The URL itself is not quoted: it may hold a password.
        problems.append(f"REDIS_URL must start with redis://, rediss:// or unix:// (got scheme {scheme!r})")
    return url


def _review_budget(env: Mapping[str, str], problems: list[str]) -> ReviewBudget:
    default = ReviewBudget()
    seconds = _non_negative(env, "IMAGE_REVIEW_REVIEW_SECONDS", default.seconds, problems)
    if seconds == 0:
        problems.append("IMAGE_REVIEW_REVIEW_SECONDS must be greater than zero")
        seconds = default.seconds
    max_diff = _size(env, "IMAGE_REVIEW_REVIEW_MAX_DIFF", default.max_diff_bytes, problems)
    return ReviewBudget(seconds=seconds, max_diff_bytes=max_diff)


def _max_body(env: Mapping[str, str], problems: list[str]) -> int:
    return _size(env, "IMAGE_REVIEW_MAX_BODY", DEFAULT_MAX_BODY, problems)


def _size(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = _value(env, name)
    if raw is None:
        return default
    match = _SIZE_RE.match(raw)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        problems.append(
            f"{name} must be a size in bytes, optionally with K or M (e.g. 26214400 or 25M), "
            f"got {raw.strip()!r}"
        )
        return default
    size = int(match.group(1)) * _SIZE_UNITS[unit]
    if size <= 0:
        problems.append(f"{name} must be greater than zero")
        return default
    return size


def _non_negative(env: Mapping[str, str], name: str, default: float, problems: list[str]) -> float:
    """A number that must not be negative (seconds, or a rate)."""
    raw = _value(env, name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        problems.append(f"{name} must be a number, got {raw.strip()!r}")
        return default
    if not value >= 0 or value == float("inf"):
        problems.append(f"{name} must be a finite number of at least 0, got {raw.strip()!r}")
        return default
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def registry_settings(env: Mapping[str, str], problems: list[str]) -> RegistrySettings:
    """``IMAGE_REVIEW_REGISTRY_*`` and ``IMAGE_REVIEW_INSECURE_REGISTRIES``; credentials only from here."""
    defaults = RegistrySettings()
    verify = defaults.verify
    raw = _value(env, "IMAGE_REVIEW_REGISTRY_VERIFY")
    if raw is not None:
        if raw.strip().lower() in _TRUE:
            verify = True
        elif raw.strip().lower() in _FALSE:
            verify = False
        else:
            problems.append(f"IMAGE_REVIEW_REGISTRY_VERIFY must be 1 or 0 (true/false), got {raw.strip()!r}")
    allowed = _hosts(env, "IMAGE_REVIEW_REGISTRY_HOSTS", problems) or defaults.allowed_hosts
    insecure = _hosts(env, "IMAGE_REVIEW_INSECURE_REGISTRIES", problems) or ()
    timeout = defaults.timeout
    raw = _value(env, "IMAGE_REVIEW_REGISTRY_TIMEOUT")
    if raw is not None:
        try:
            timeout = float(raw.strip())
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 120:
            problems.append(f"IMAGE_REVIEW_REGISTRY_TIMEOUT must be seconds between 0 and 120, got {raw.strip()!r}")
            timeout = defaults.timeout
    try:
        credentials = CredentialStore.from_env(env)
    except CredentialError as exc:
        # The message names the variable, never its value.
        problems.append(str(exc))
        credentials = CredentialStore()
    networks = private_networks(env, problems)
    return RegistrySettings(verify, allowed, insecure, credentials, timeout, private_networks=networks)


def private_networks(env: Mapping[str, str], problems: list[str]) -> tuple[IPNetwork, ...]:
    """``IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS``: non-public networks registries may live in."""
    name = "IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS"
    raw = _value(env, name)
    if raw is None:
        return ()
    try:
        return parse_networks(raw)
    except ValueError as exc:
        problems.append(f"{name} lists addresses or networks (127.0.0.1/32, 10.0.0.0/8): {exc}")
        return ()


def _hosts(env: Mapping[str, str], name: str, problems: list[str]) -> tuple[str, ...] | None:
    """A comma- or space-separated list of registry hosts or host globs."""
    raw = _value(env, name)
    if raw is None:
        return None
    hosts = tuple(h.strip().lower() for h in re.split(r"[,\s]+", raw) if h.strip())
    bad = [h for h in hosts if "/" in h]
    if bad:
        problems.append(f"{name} lists hosts (registry.k8s.io, 127.0.0.1:5000, *.gcr.io), not URLs: {bad[0]!r}")
        return None
    return hosts
