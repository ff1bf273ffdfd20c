"""``image-review sandbox``: watch the App review a sample pull request, with no GitHub account.

It starts a local fake of the GitHub API, the real web app (webhook receiver and durable queue)
and a worker, all on 127.0.0.1; delivers signed ``pull_request`` webhooks for the bundled sample
pull request (the etcd-manager staging case) and then for a push that fixes it; and prints what
the App posted after each: the check run, its annotations, the inline comments, the summary
comment and the labels. Then the staging loop (app.testing.staging_demo): the dashboard issue,
and the switch-back pull request once the sample's release is promoted.

The fake GitHub ships in this package (app.testing.fake_github), so the sandbox runs from an
installed wheel too; ``run_sandbox`` takes a factory for it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import WSGIRequestHandler, make_server

from app.github.client import ClientOptions, GitHubApp, InstallationClient, RetryPolicy
from app.github.memory import LocalMemory
from app.github.publish import PublishOptions
from app.jobs.model import QueueSettings
from app.service.review import ReviewDeps, ReviewOptions, give_up_hook, job_handler
from app.service.settings import Settings
from app.testing.sample_pr import RELEASE_IMAGE, STAGING_IMAGE, SamplePull, load_sample

APP_ID = 1001
INSTALLATION_ID = 1
CHECK_NAME = "image-review"


class SandboxError(RuntimeError):
    """The sandbox cannot run; the message says why and what to do."""


class SandboxGitHub(Protocol):
    """What the sandbox needs from a fake GitHub (app.testing.fake_github.FakeGitHub has it)."""

    base_url: str

    def add_installation(self, installation_id: int, account: str, repos: set[str] | None = None) -> None: ...

    def load_pull(self, repo: str, pull: dict[str, Any]) -> Any: ...


FakeFactory = Callable[[int, str], AbstractContextManager[SandboxGitHub]]
"""(App id, the App's public key PEM) → a context manager serving a fake GitHub on loopback."""


def source_fake_factory() -> FakeFactory:
    """The fake GitHub shipped in this package (app.testing.fake_github)."""
    from app.testing import fake_github as module

    @contextmanager
    def factory(app_id: int, public_key: str) -> Iterator[SandboxGitHub]:
        fake = module.FakeGitHub(app_id=app_id, public_key=public_key)
        with fake.serve():
            yield fake

    return factory


# ---------------------------------------------------------------------------------------------
# Running


def run_sandbox(out: TextIO, *, fake_factory: FakeFactory | None = None, timeout: float = 30.0) -> int:
    """Run the sample review end to end and print what the App posted; 0 when both reviews finished."""
    from app.jobs.consumer import start_embedded_consumer
    from app.jobs.huey_queue import build_queue
    from app.service.factory import create_app

    factory = fake_factory or source_fake_factory()
    private_pem, public_pem = _key_pair()
    secret = secrets.token_hex(16)
    sample = load_sample()
    with tempfile.TemporaryDirectory(prefix="image-review-sandbox-") as tmp, factory(APP_ID, public_pem) as fake:
        fake.add_installation(INSTALLATION_ID, sample.repo.split("/", 1)[0])
        fake.load_pull(sample.repo, sample.fixture())
        settings = Settings(
            app_id=APP_ID, private_key=private_pem, webhook_secret=secret, api_url=fake.base_url, data_dir=Path(tmp)
        )
        github = GitHubApp.from_settings(
            settings,
            options=ClientOptions(
                retry=RetryPolicy(max_attempts=3, max_elapsed=10.0, backoff_factor=0.1),
                seconds_between_requests=0,
                seconds_between_writes=0,
            ),
        )
        deps = ReviewDeps(
            github=github.client,
            options=ReviewOptions(publish=PublishOptions(app_id=APP_ID)),
            memory=LocalMemory(),
        )
        queue_settings = QueueSettings(data_dir=Path(tmp), poll_interval=0.05, retries=1, retry_delay=1.0)
        queue = build_queue(queue_settings, job_handler(deps), on_give_up=give_up_hook(deps))
        stop_worker = start_embedded_consumer(queue, workers=1)
        try:
            with _serve(create_app(settings, queue)) as app_url, github.client(INSTALLATION_ID) as observer:
                out.write(
                    f"image-review sandbox\n  fake GitHub API: {fake.base_url}\n  the App:         {app_url}\n"
                    f"  sample:          {sample.repo}#{sample.number} {sample.title!r} "
                    f"({len(sample.commits)} commits)\n"
                )
                ok = _round(out, observer, app_url, secret, sample, "opened", timeout)
                labels = _labels(observer, sample)
                fixed = sample.push(
                    f"{STAGING_IMAGE}:v3.0.20220428",
                    f"{RELEASE_IMAGE}:v3.0.20220428",
                    "Use the promoted etcd-manager v3.0.20220428",
                )
                fake.load_pull(sample.repo, fixed.fixture(labels))
                out.write(f"\n— pushed {fixed.head_sha[:12]}: {fixed.commits[-1].subject}\n")
                ok = _round(out, observer, app_url, secret, fixed, "synchronize", timeout, labels) and ok
        finally:
            stop_worker()
            queue.close()
            github.close()
    return 0 if ok else 1


def _round(
    out: TextIO,
    observer: InstallationClient,
    app_url: str,
    secret: str,
    pull: SamplePull,
    action: str,
    timeout: float,
    labels: list[str] | None = None,
) -> bool:
    payload = pull_request_payload(pull, action, labels or [])
    status = deliver(app_url, secret, "pull_request", payload)
    out.write(f"\n→ delivered pull_request.{action} for {pull.head_sha[:12]}: HTTP {status}\n")
    run = _wait_for_check(observer, pull, timeout)
    if run is None:
        out.write(f"  the check run did not complete within {timeout:.0f}s\n")
        return False
    print_review(out, observer, pull, run)
    return True


def deliver(app_url: str, secret: str, event: str, payload: dict[str, Any]) -> int:
    """POST a webhook delivery signed as GitHub signs it; returns the HTTP status."""
    body = json.dumps(payload).encode("utf-8")
    signature = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    return requests.post(f"{app_url}/webhook", data=body, headers=headers, timeout=10).status_code


def pull_request_payload(pull: SamplePull, action: str, labels: list[str]) -> dict[str, Any]:
    """The fields of a ``pull_request`` webhook payload the App reads."""
    owner = pull.repo.split("/", 1)[0]
    return {
        "action": action,
        "number": pull.number,
        "pull_request": {
            "number": pull.number,
            "state": "open",
            "draft": False,
            "title": pull.title,
            "user": {"login": pull.user, "type": "User"},
            "labels": [{"name": name} for name in labels],
            "head": {"sha": pull.head_sha, "ref": pull.head_ref, "label": f"{owner}:{pull.head_ref}"},
            "base": {"sha": pull.base_sha, "ref": pull.base_ref, "label": f"{owner}:{pull.base_ref}"},
            "author_association": "CONTRIBUTOR",
        },
        "repository": {"full_name": pull.repo, "name": pull.repo.split("/", 1)[1], "owner": {"login": owner}},
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": pull.user, "type": "User"},
    }


def _wait_for_check(observer: InstallationClient, pull: SamplePull, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = observer.raw.request(
            "GET", f"/repos/{pull.repo}/commits/{pull.head_sha}/check-runs", params={"check_name": CHECK_NAME}
        )
        runs = response.json().get("check_runs") or []
        if runs and runs[0].get("status") == "completed":
            return dict(runs[0])
        time.sleep(0.1)
    return None


# ---------------------------------------------------------------------------------------------
# Printing what the App posted


def print_review(out: TextIO, observer: InstallationClient, pull: SamplePull, run: dict[str, Any]) -> None:
    output = run.get("output") or {}
    out.write(f"  check run {run.get('name')}: {run.get('status')}, conclusion {run.get('conclusion')}\n")
    out.write(f"    title: {output.get('title')}\n")
    out.write(_indent(str(output.get("summary") or ""), "    | "))
    annotations = observer.raw.request("GET", f"/repos/{pull.repo}/check-runs/{run['id']}/annotations").json()
    for a in annotations:
        out.write(f"    annotation {a['path']}:{a['start_line']} [{a['annotation_level']}] {a.get('title', '')}\n")
    comments = observer.raw.request("GET", f"/repos/{pull.repo}/pulls/{pull.number}/comments").json()
    out.write(f"  inline comments: {len(comments)}\n")
    for c in comments:
        out.write(f"    {c['path']}:{c.get('line')}\n")
        out.write(_indent(str(c["body"]), "      | "))
    issue_comments = observer.raw.request("GET", f"/repos/{pull.repo}/issues/{pull.number}/comments").json()
    for c in issue_comments:
        out.write(f"  summary comment (id {c['id']}):\n")
        out.write(_indent(str(c["body"]), "      | "))
    out.write(f"  labels: {', '.join(_labels(observer, pull)) or '(none)'}\n")


def _labels(observer: InstallationClient, pull: SamplePull) -> list[str]:
    labels = observer.raw.request("GET", f"/repos/{pull.repo}/issues/{pull.number}/labels").json()
    return [str(label["name"]) for label in labels]


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").split("\n"))


# ---------------------------------------------------------------------------------------------
# Plumbing


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private, public


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="image-review-sandbox", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from app.testing.staging_demo import run_staging_demo

    try:
        reviewed = run_sandbox(sys.stdout, timeout=args.timeout)
        private_pem, public_pem = _key_pair()
        return reviewed or run_staging_demo(sys.stdout, private_pem, public_pem, APP_ID)
    except SandboxError as exc:
        print(f"image-review sandbox: {exc}", file=sys.stderr)
        return 2
