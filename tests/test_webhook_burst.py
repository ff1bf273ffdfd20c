"""The served App takes a burst of malformed webhook requests without a 5xx and stays healthy.

The real ``image-review serve`` (gunicorn) on 127.0.0.1 gets requests of every malformed kind
(bad signatures, bad JSON, wrong shapes, huge headers); bounded in count and time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from app_process import SECRET, Apps, app_env
from conftest import APP_ID, KeyPair

from app.testing.fake_github import FakeGitHub
from app.testing.malformed import kinds, send_burst

BURST = 2_000  # bench/webhook_malformed.py sends 10,000

pytestmark = pytest.mark.timeout(180)


def test_malformed_burst_gets_no_5xx_and_healthz_stays_up(
    tmp_path: Path, fake_github: FakeGitHub, rsa_keys: KeyPair
) -> None:
    env = app_env(tmp_path / "data", fake_github.base_url, rsa_keys.private_pem, APP_ID)
    with Apps(tmp_path) as apps:
        server = apps.serve(env, workers=2, threads=4, consumer_threads=1)
        result = send_burst(server.url, SECRET, BURST, threads=8)
        assert sum(result.statuses.values()) == BURST
        assert result.server_errors == {}, result.by_kind
        # Every kind was answered (a server may close the connection after a 400 on huge headers,
        # but it must have answered first), and nothing was enqueued as a review.
        assert result.failures == {}, result.failures
        assert set(result.by_kind) == {k.kind for k in kinds(SECRET)}
        assert all(s < 500 for s in result.statuses)
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert server.alive()
        # Only the App's own start-up look at missed deliveries; no review began.
        assert not fake_github.calls(pattern=r"/repos/|/access_tokens"), "a malformed request started a review"
