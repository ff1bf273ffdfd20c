"""The "Staging images" dashboard issue: created when there is something to show, edited in place
only when its body changes, closed when nothing is left and reopened when something appears.

The issue is found again by its label and the marker at the top of its body (the App's memory
of its number is only a shortcut), so a lost memory never makes a second dashboard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from app.github.client import RawClient
from app.github.loop_memory import LoopMemory
from app.report.dashboard import DASHBOARD_MARKER, DASHBOARD_TITLE

DASHBOARD_LABEL = "image-review/staging-images"
REQUEST_MARKER = "image-review:switch-back-request"
_TICKED = re.compile(r"^\s*[-*] \[[xX]\] .*<!-- " + re.escape(REQUEST_MARKER) + r" (\S+) -->", re.M)
Action = Literal["unchanged", "created", "edited", "closed", "reopened", "none"]


@dataclass(frozen=True, slots=True)
class FoundIssue:
    number: int
    state: str
    body: str


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def stable_digest(key: str, commit: str) -> str:
    return digest(key.replace(commit, "").replace(commit[:12], "") if commit else key)


def is_current(memory: LoopMemory, key: str, empty: bool, commit: str = "") -> bool:
    """Whether the dashboard already shows ``key`` (the body without owners) in the right state."""
    return (memory.dashboard_number is not None and memory.dashboard_digest == stable_digest(key, commit)
            and memory.dashboard_open == (not empty))


def sync_dashboard(raw: RawClient, repo: str, body: str, empty: bool, memory: LoopMemory, *,
                   commit: str = "", key: str | None = None) -> Action:
    """Bring the dashboard issue to ``body`` (open) or closed when ``empty``; updates ``memory``.

    ``commit`` (the sha the body links to) is left out of the comparison: a push that changes no
    row does not edit the issue, whose links stay valid permalinks to the commit they were read at.
    ``key`` is what is compared (default: the body): the body without the owners, which are
    looked up only when something else changed.
    """
    wanted_open = not empty
    key = body if key is None else key
    stable = stable_digest(key, commit)
    if is_current(memory, key, empty, commit):
        return "unchanged"
    found = find_dashboard(raw, repo, memory.dashboard_number)
    action: Action
    if found is None:
        if empty:
            return "none"
        created = raw.request("POST", f"/repos/{repo}/issues",
                              json={"title": DASHBOARD_TITLE, "body": body, "labels": [DASHBOARD_LABEL]}).json()
        found, action = FoundIssue(int(created["number"]), "open", body), "created"
    else:
        action = _update(raw, repo, found, body, wanted_open)
    memory.dashboard_number = found.number
    memory.dashboard_open = wanted_open
    memory.dashboard_digest = stable
    return action


def _update(raw: RawClient, repo: str, found: FoundIssue, body: str, wanted_open: bool) -> Action:
    patch: dict[str, Any] = {}
    action: Action = "unchanged"
    if wanted_open and found.body != body:
        patch["body"], action = body, "edited"
    if wanted_open and found.state != "open":
        patch["state"], action = "open", "reopened"
    if not wanted_open and found.state == "open":
        # The last table stays readable in the closed issue; the body says nothing is left.
        patch.update(state="closed", state_reason="completed", body=body)
        action = "closed"
    if patch:
        raw.request("PATCH", f"/repos/{repo}/issues/{found.number}", json=patch)
    return action


def find_dashboard(raw: RawClient, repo: str, remembered: int | None) -> FoundIssue | None:
    """The dashboard issue: the remembered number when it still is one, else by label and marker."""
    if remembered is not None:
        response = raw.request("GET", f"/repos/{repo}/issues/{remembered}", expect=(200, 404, 410))
        if response.status_code == 200 and DASHBOARD_MARKER in (response.json().get("body") or ""):
            return _found(response.json())
    listed = raw.request("GET", f"/repos/{repo}/issues",
                         params={"labels": DASHBOARD_LABEL, "state": "all", "per_page": 100}).json()
    ours = [i for i in listed if DASHBOARD_MARKER in (i.get("body") or "") and "pull_request" not in i]
    # An open one first, then the newest: a duplicate left by hand is not revived.
    ours.sort(key=lambda i: (i.get("state") != "open", -int(i["number"])))
    return _found(ours[0]) if ours else None


def _found(data: dict[str, Any]) -> FoundIssue:
    return FoundIssue(int(data["number"]), str(data.get("state", "open")), str(data.get("body") or ""))


def request_lines(images: Iterable[tuple[str, str]], ticked: set[str]) -> list[str]:
    """A task list under the table: tick an image to ask for its switch-back pull request.

    ``images`` are (staging image, branch slug) of the promoted rows; ``ticked`` the slugs
    already asked for (kept ticked when the App rewrites the body).
    """
    listed = list(dict.fromkeys(images))
    if not listed:
        return []
    out = ["", "Promoted staging images: tick one to have a switch-back pull request opened.", ""]
    out += [f"- [{'x' if slug in ticked else ' '}] `{name}` <!-- {REQUEST_MARKER} {slug} -->" for name, slug in listed]
    return out


def requested_slugs(body: str) -> set[str]:
    """The images whose box is ticked in a dashboard body."""
    return set(_TICKED.findall(body))


def tracking_owners(raw: RawClient, repo: str, issues: Iterable[int]) -> dict[int, str]:
    """Each tracking issue's assignees ("@a, @b"), or its author when nobody is assigned."""
    out: dict[int, str] = {}
    for number in sorted(set(issues)):
        response = raw.request("GET", f"/repos/{repo}/issues/{number}", expect=(200, 404, 410))
        if response.status_code != 200:
            continue
        data = response.json()
        logins = [a["login"] for a in data.get("assignees") or [] if isinstance(a, dict) and a.get("login")]
        if not logins and isinstance(data.get("user"), dict) and data["user"].get("login"):
            logins = [data["user"]["login"]]
        if logins:
            out[number] = ", ".join(f"@{login}" for login in logins)
    return out
