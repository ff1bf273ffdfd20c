from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KeyPair
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.service.settings import DEFAULT_API_URL, DEFAULT_MAX_BODY, Settings, SettingsError

SECRET = "s3cr3t-webhook-value"
REDIS_PASSWORD = "hunter2-redis"


def env_for(keys: KeyPair, **overrides: str) -> dict[str, str]:
    env = {
        "GITHUB_APP_ID": "4242",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": SECRET,
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value.problems


def key_body(keys: KeyPair) -> str:
    """A distinctive piece of the key's base64 body, to look for in output."""
    return keys.private_pem.splitlines()[5]


def test_minimal_environment_gets_the_defaults(rsa_keys: KeyPair) -> None:
    settings = Settings.from_env(env_for(rsa_keys))
    assert settings.app_id == 4242
    assert settings.webhook_secret == SECRET
    assert settings.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert settings.api_url == DEFAULT_API_URL
    assert settings.data_dir == Path("./data")
    assert settings.redis_url is None
    assert settings.max_body == DEFAULT_MAX_BODY == 25 * 1024 * 1024


def test_every_setting_is_read(rsa_keys: KeyPair, tmp_path: Path) -> None:
    env = env_for(
        rsa_keys,
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
        IMAGE_REVIEW_DATA_DIR=str(tmp_path),
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        IMAGE_REVIEW_MAX_BODY="5M",
    )
    settings = Settings.from_env(env)
    assert settings.api_url == "https://ghe.example.com/api/v3"
    assert settings.data_dir == tmp_path
    assert settings.redis_url == f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    assert settings.max_body == 5 * 1024 * 1024


def test_missing_everything_names_each_variable() -> None:
    problems = problems_of({})
    text = "\n".join(problems)
    assert len(problems) == 3
    assert "GITHUB_APP_ID is not set" in text
    assert "GITHUB_WEBHOOK_SECRET is not set" in text
    assert "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE must be set" in text


def test_blank_values_count_as_missing(rsa_keys: KeyPair) -> None:
    problems = problems_of(env_for(rsa_keys, GITHUB_WEBHOOK_SECRET="  ", GITHUB_APP_ID=""))
    assert problems == ["GITHUB_APP_ID is not set", "GITHUB_WEBHOOK_SECRET is not set"]


def test_the_error_lists_every_problem_at_once(rsa_keys: KeyPair) -> None:
    env = env_for(
        rsa_keys,
        GITHUB_APP_ID="my-app",
        GITHUB_API_URL="ftp://example.com",
        IMAGE_REVIEW_MAX_BODY="lots",
    )
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith("invalid configuration:")
    assert "GITHUB_APP_ID must be the App's numeric id, got 'my-app'" in message
    assert "GITHUB_API_URL must be an http(s) URL" in message
    assert "IMAGE_REVIEW_MAX_BODY must be a size in bytes" in message
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize("value", ["0", "-3"])
def test_app_id_must_be_positive(rsa_keys: KeyPair, value: str) -> None:
    assert any("GITHUB_APP_ID" in p for p in problems_of(env_for(rsa_keys, GITHUB_APP_ID=value)))


@pytest.mark.parametrize(("value", "size"), [("1024", 1024), ("64k", 65536), ("25MiB", 25 * 1024 * 1024)])
def test_max_body_sizes(rsa_keys: KeyPair, value: str, size: int) -> None:
    assert Settings.from_env(env_for(rsa_keys, IMAGE_REVIEW_MAX_BODY=value)).max_body == size


def test_max_body_must_be_positive(rsa_keys: KeyPair) -> None:
    assert problems_of(env_for(rsa_keys, IMAGE_REVIEW_MAX_BODY="0")) == [
        "IMAGE_REVIEW_MAX_BODY must be greater than zero"
    ]


def test_private_key_with_literal_newline_escapes(rsa_keys: KeyPair) -> None:
    escaped = rsa_keys.private_pem.strip().replace("\n", "\\n")
    settings = Settings.from_env(env_for(rsa_keys, GITHUB_PRIVATE_KEY=escaped))
    assert settings.private_key == rsa_keys.private_pem.strip() + "\n"


def test_private_key_from_file(rsa_keys: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "app.pem"
    path.write_text(rsa_keys.private_pem)
    env = env_for(rsa_keys, GITHUB_PRIVATE_KEY="<unset>", GITHUB_PRIVATE_KEY_FILE=str(path))
    assert Settings.from_env(env).private_key.strip() == rsa_keys.private_pem.strip()


def test_private_key_file_missing(rsa_keys: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "absent.pem"
    env = env_for(rsa_keys, GITHUB_PRIVATE_KEY="<unset>", GITHUB_PRIVATE_KEY_FILE=str(path))
    assert problems_of(env) == [f"GITHUB_PRIVATE_KEY_FILE: cannot read {path}: No such file or directory"]


def test_both_key_sources_is_an_error(rsa_keys: KeyPair, tmp_path: Path) -> None:
    env = env_for(rsa_keys, GITHUB_PRIVATE_KEY_FILE=str(tmp_path / "app.pem"))
    assert problems_of(env) == ["set only one of GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_FILE"]


def test_a_broken_key_is_reported_without_echoing_it(rsa_keys: KeyPair) -> None:
    broken = rsa_keys.private_pem.replace(key_body(rsa_keys), key_body(rsa_keys)[::-1])
    problems = problems_of(env_for(rsa_keys, GITHUB_PRIVATE_KEY=broken))
    assert len(problems) == 1
    assert problems[0].startswith("GITHUB_PRIVATE_KEY ")
    assert "PEM" in problems[0]
    assert key_body(rsa_keys)[::-1] not in problems[0]
    assert "BEGIN" not in problems[0]


def test_not_a_pem_at_all(rsa_keys: KeyPair) -> None:
    problems = problems_of(env_for(rsa_keys, GITHUB_PRIVATE_KEY="not-a-key-at-all"))
    assert problems == ["GITHUB_PRIVATE_KEY is not a PEM-encoded, unencrypted private key"]
    assert "not-a-key-at-all" not in str(problems)


def test_a_non_rsa_key_is_refused(rsa_keys: KeyPair) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    problems = problems_of(env_for(rsa_keys, GITHUB_PRIVATE_KEY=ec_key.decode()))
    assert problems == ["GITHUB_PRIVATE_KEY must be an RSA private key (GitHub Apps sign with RS256)"]


def test_redis_url_problem_does_not_show_the_password(rsa_keys: KeyPair) -> None:
    problems = problems_of(env_for(rsa_keys, REDIS_URL=f"http://:{REDIS_PASSWORD}@cache:6379"))
    assert problems == ["REDIS_URL must start with redis://, rediss:// or unix:// (got scheme 'http')"]


def test_secrets_stay_out_of_repr_and_str(rsa_keys: KeyPair) -> None:
    env = env_for(rsa_keys, REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    settings = Settings.from_env(env)
    for text in (repr(settings), str(settings)):
        assert SECRET not in text
        assert REDIS_PASSWORD not in text
        assert key_body(rsa_keys) not in text
        assert "PRIVATE KEY" not in text
        assert "app_id=4242" in text


def test_secrets_stay_out_of_error_messages(rsa_keys: KeyPair) -> None:
    env = env_for(rsa_keys, GITHUB_APP_ID="x", REDIS_URL=f"mysql://:{REDIS_PASSWORD}@db")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert SECRET not in message
    assert REDIS_PASSWORD not in message
    assert key_body(rsa_keys) not in message


def test_settings_are_frozen(rsa_keys: KeyPair) -> None:
    settings = Settings.from_env(env_for(rsa_keys))
    with pytest.raises(AttributeError):
        settings.app_id = 1  # type: ignore[misc]


def test_github_backoff_and_write_pacing(rsa_keys: KeyPair, tmp_path: Path) -> None:
    from app.github.client import ClientOptions
    from app.service.review import ReviewDeps

    default = Settings.from_env(env_for(rsa_keys))
    assert (default.github_backoff, default.writes_per_minute) == (1.0, 80.0)
    paced = ClientOptions.from_settings(default)
    assert paced.retry.backoff_factor == 1.0 and paced.seconds_between_writes == ClientOptions().seconds_between_writes

    quick = Settings.from_env(
        env_for(
            rsa_keys,
            IMAGE_REVIEW_GITHUB_BACKOFF="0.05",
            IMAGE_REVIEW_WRITES_PER_MINUTE="0",
            IMAGE_REVIEW_DATA_DIR=str(tmp_path),
            IMAGE_REVIEW_REGISTRY_VERIFY="0",
        )
    )
    options = ClientOptions.from_settings(quick)
    assert options.retry.backoff_factor == 0.05
    # 0 turns every spacing of requests off, PyGithub's included.
    assert (options.seconds_between_requests, options.seconds_between_writes) == (0, 0)
    deps = ReviewDeps.from_settings(quick, client_options=options)
    assert deps.options.pace.per_minute == 0

    problems = problems_of(env_for(rsa_keys, IMAGE_REVIEW_GITHUB_BACKOFF="soon", IMAGE_REVIEW_WRITES_PER_MINUTE="-1"))
    assert any(p.startswith("IMAGE_REVIEW_GITHUB_BACKOFF must be a number") for p in problems)
    assert any(p.startswith("IMAGE_REVIEW_WRITES_PER_MINUTE must be a finite number") for p in problems)


def test_the_queue_is_configured_with_the_rest(rsa_keys: KeyPair, tmp_path: Path) -> None:
    env = env_for(
        rsa_keys,
        IMAGE_REVIEW_DATA_DIR=str(tmp_path),
        IMAGE_REVIEW_JOB_RETRIES="5",
        IMAGE_REVIEW_DEDUPE_TTL="60",
        IMAGE_REVIEW_SQLITE_SYNC="FULL",
    )
    queue = Settings.from_env(env).queue
    assert queue.sqlite_path == tmp_path / "queue.sqlite3" and queue.redis_url is None
    assert (queue.retries, queue.max_attempts, queue.dedupe_ttl, queue.sqlite_sync) == (5, 6, 60.0, "full")


def test_bad_queue_tuning_is_named_with_the_other_problems(rsa_keys: KeyPair) -> None:
    problems = problems_of(
        env_for(rsa_keys, IMAGE_REVIEW_JOB_RETRIES="many", IMAGE_REVIEW_SQLITE_SYNC="off", IMAGE_REVIEW_JOB_LEASE="-1")
    )
    assert any(p.startswith("IMAGE_REVIEW_JOB_RETRIES must be a whole number") for p in problems)
    assert any(p.startswith("IMAGE_REVIEW_SQLITE_SYNC must be one of normal, full") for p in problems)
    assert any(p.startswith("IMAGE_REVIEW_JOB_LEASE must be a finite number") for p in problems)
