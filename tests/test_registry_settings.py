"""Registry verification settings of the App: read from the environment, wired into the review."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KeyPair

from app.registry.client import RegistryClient, env_var_for_host
from app.service.review import ReviewDeps
from app.service.settings import RegistrySettings, Settings, SettingsError


def env_for(keys: KeyPair, **extra: str) -> dict[str, str]:
    return {"GITHUB_APP_ID": "4242", "GITHUB_PRIVATE_KEY": keys.private_pem, "GITHUB_WEBHOOK_SECRET": "x", **extra}


def test_verification_is_on_by_default_for_the_public_registries(rsa_keys: KeyPair) -> None:
    registry = Settings.from_env(env_for(rsa_keys)).registry
    assert registry.verify is True
    config = registry.client_config()
    assert config.is_allowed("registry.k8s.io") and config.is_allowed("us-central1-docker.pkg.dev")
    assert config.is_allowed("gcr.io") and config.is_allowed("k8s.gcr.io")
    assert not config.is_allowed("169.254.169.254") and not config.is_allowed("127.0.0.1:5000")
    assert config.scheme_for("registry.k8s.io") == "https"


def test_every_registry_setting_is_read(rsa_keys: KeyPair) -> None:
    env = env_for(
        rsa_keys,
        IMAGE_REVIEW_REGISTRY_VERIFY="false",
        IMAGE_REVIEW_REGISTRY_HOSTS="registry.k8s.io, *.gcr.io",
        IMAGE_REVIEW_INSECURE_REGISTRIES="127.0.0.1:5000",
        IMAGE_REVIEW_REGISTRY_TIMEOUT="2.5",
        **{env_var_for_host("ghcr.io"): "robot:token-value"},
    )
    registry = Settings.from_env(env).registry
    assert (registry.verify, registry.allowed_hosts, registry.insecure_hosts, registry.timeout) == (
        False, ("registry.k8s.io", "*.gcr.io"), ("127.0.0.1:5000",), 2.5
    )
    config = registry.client_config()
    assert config.is_allowed("127.0.0.1:5000") and config.scheme_for("127.0.0.1:5000") == "http"
    assert not config.is_allowed("docker.io")
    creds = config.credentials.for_host("ghcr.io")
    assert creds is not None and creds.username == "robot"
    assert "token-value" not in repr(Settings.from_env(env))


def test_bad_registry_settings_are_named_without_secrets(rsa_keys: KeyPair) -> None:
    env = env_for(
        rsa_keys,
        IMAGE_REVIEW_REGISTRY_VERIFY="maybe",
        IMAGE_REVIEW_REGISTRY_TIMEOUT="-1",
        IMAGE_REVIEW_INSECURE_REGISTRIES="http://127.0.0.1:5000/v2",
        IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO="only-a-secret",
    )
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    problems = caught.value.problems
    assert "IMAGE_REVIEW_REGISTRY_VERIFY must be 1 or 0 (true/false), got 'maybe'" in problems
    assert any(p.startswith("IMAGE_REVIEW_REGISTRY_TIMEOUT must be seconds") for p in problems)
    assert any(p.startswith("IMAGE_REVIEW_INSECURE_REGISTRIES lists hosts") for p in problems)
    assert "IMAGE_REVIEW_REGISTRY_AUTH_GHCR_IO must be 'user:password'" in problems
    assert "only-a-secret" not in str(caught.value)


def test_review_deps_keep_one_registry_client_when_verifying(rsa_keys: KeyPair, tmp_path: Path) -> None:
    base = Settings(app_id=4242, private_key=rsa_keys.private_pem, webhook_secret="x", data_dir=tmp_path)
    deps = ReviewDeps.from_settings(base)
    try:
        assert isinstance(deps.registry, RegistryClient) and deps.manifests is not None
        assert deps.options.offline is False
    finally:
        deps.close_registry()
    off = Settings(
        app_id=4242, private_key=rsa_keys.private_pem, webhook_secret="x", data_dir=tmp_path,
        registry=RegistrySettings(verify=False),
    )
    quiet = ReviewDeps.from_settings(off)
    assert quiet.registry is None and quiet.manifests is None and quiet.options.offline is True
