"""Secrets never leave: not in reprs, not in /metrics, not in error answers, not in logs.

Every test's log lines are grepped by the autouse ``no_secret_in_logs`` fixture (conftest), and
every line the App's processes write by ``Apps`` (app_process); the first tests here show that
grep finds each kind of secret, so a green run means something.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from memory_queue import MemoryQueue
from secret_grep import LogCapture, leaks, private_key_lines

from app.github.client import AppAuth, InstallationToken
from app.registry.client import Credentials, CredentialStore, RegistryConfig
from app.service.factory import create_app
from app.service.settings import Settings, SettingsError
from app.testing.fake_github import FakeGitHub, signed_delivery

SECRET = "secrets-test-webhook-secret"
PASSWORD = "registry-password-0123"


def test_the_grep_finds_every_kind_of_secret(rsa_keys: KeyPair, fake_github: FakeGitHub) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url)
    token = auth.installation_token(INSTALLATION_ID)
    basic = Credentials("bot", PASSWORD).basic_header()
    for text in (token, auth.jwt(), rsa_keys.private_pem, f"Authorization: {basic}", f"Bearer {auth.jwt()}"):
        assert leaks(f"... {text} ...") != [], text
    assert leaks(f"key line {private_key_lines(rsa_keys.private_pem)[3]}", private_key_lines(rsa_keys.private_pem))
    assert leaks(f"secret={SECRET}", [SECRET]) and not leaks("an ordinary log line", [SECRET])
    # And the capture the autouse fixture uses sees records of every logger, with tracebacks.
    capture, library = LogCapture(), logging.getLogger("some.library")
    library.addHandler(capture)
    library.propagate = False  # this leak is on purpose: keep it from the autouse grep
    try:
        try:
            raise RuntimeError(f"failed with {token}")
        except RuntimeError:
            library.exception("request failed")
    finally:
        library.removeHandler(capture)
        library.propagate = True
    assert any(leaks(line) for line in capture.lines)


def test_reprs_hold_no_secret(rsa_keys: KeyPair, tmp_path: Path) -> None:
    env = {
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": rsa_keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:6379/0",
        "IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO": f"bot:{PASSWORD}",
        "IMAGE_REVIEW_DATA_DIR": str(tmp_path),
    }
    settings = Settings.from_env(env)
    literals = [SECRET, PASSWORD, *private_key_lines(rsa_keys.private_pem)]
    store = CredentialStore({"ghcr.io": Credentials("bot", PASSWORD)})
    objects = [
        settings,
        settings.registry,
        settings.registry.client_config(),
        RegistryConfig(credentials=store),
        store,
        Credentials("bot", PASSWORD),
        InstallationToken("ghs_" + "a" * 36, 0.0),
        AppAuth(APP_ID, rsa_keys.private_pem),
    ]
    for obj in objects:
        assert leaks(repr(obj), literals) == [], repr(obj)
        assert leaks(str(obj), literals) == [], str(obj)


def test_configuration_errors_name_settings_not_values(rsa_keys: KeyPair) -> None:
    env = {
        "GITHUB_APP_ID": "x",
        "GITHUB_PRIVATE_KEY": rsa_keys.private_pem.replace("A", "!", 3),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "REDIS_URL": f"http://:{PASSWORD}@127.0.0.1/",
        "IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO": PASSWORD,  # no "user:" part
    }
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert len(error.value.problems) >= 3
    assert leaks(str(error.value), [SECRET, PASSWORD, *private_key_lines(rsa_keys.private_pem)]) == []


def test_metrics_and_error_answers_hold_no_secret(rsa_keys: KeyPair, tmp_path: Path) -> None:
    settings = Settings(app_id=APP_ID, private_key=rsa_keys.private_pem, webhook_secret=SECRET, data_dir=tmp_path)
    client = create_app(settings, MemoryQueue()).test_client()
    literals = [SECRET, *private_key_lines(rsa_keys.private_pem)]
    answers = []
    good = signed_delivery(SECRET, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    answers.append(client.post("/webhook", data=good.body, headers=good.headers))
    wrong = signed_delivery("not-" + SECRET, "pull_request", {"action": "opened"})
    answers.append(client.post("/webhook", data=wrong.body, headers=wrong.headers))
    broken = signed_delivery(SECRET, "pull_request", b"{")
    answers.append(client.post("/webhook", data=broken.body, headers=broken.headers))
    assert [a.status_code for a in answers][1:] == [401, 400]
    for answer in [*answers, client.get("/metrics"), client.get("/healthz")]:
        assert leaks(answer.get_data(as_text=True), literals) == []
        assert leaks(str(dict(answer.headers)), literals) == []
