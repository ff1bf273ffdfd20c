"""Switch-back pull requests: one per promoted staging image, on ``image-review/switch-back/<name>``.

Each holds exactly one commit, written through the git data API on the default branch's head,
that changes only the image references (``app.analysis.switch_back`` plans it), so it is the
first step of the two-step pattern and passes the App's own review. The App

* opens the pull request with the evidence (digests, the promoter manifest) and "Refs #N";
* rewrites the branch when the planned edits change, but only while the branch tip is the
  App's own commit (its trailer says so); a branch with anyone else's commit on it is left alone;
* never writes to the default branch (the commit's parent is its head; only the topic ref moves);
* closes its pull request, and deletes its branch, once the staging image is gone from the
  default branch; a run with the same edits as last time makes no request at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.analysis.switch_back import SwitchBack, SwitchBackPlan, apply_edits, edits_by_path
from app.github.client import RawClient
from app.github.git_data import CommitInfo, GitData
from app.github.loop_memory import LoopMemory, SwitchBackMemory

log = logging.getLogger(__name__)

BRANCH_PREFIX = "image-review/switch-back/"
TRAILER = "Image-review-switch-back:"
PULL_MARKER = "<!-- image-review:switch-back -->"
Action = Literal["opened", "updated", "unchanged", "closed", "forgotten", "blocked", "declined"]


@dataclass(frozen=True, slots=True)
class Outcome:
    branch: str
    action: Action
    number: int | None = None
    detail: str = ""


def branch_for(change: SwitchBack) -> str:
    return BRANCH_PREFIX + change.slug


def edits_digest(change: SwitchBack) -> str:
    text = "\n".join(f"{e.path}:{e.line}:{e.old}\0{e.new}" for e in change.edits)
    return hashlib.sha256(f"{' '.join(change.release_names)}\n{text}".encode()).hexdigest()


def sync_switch_backs(raw: RawClient, repo: str, default_branch: str, head_sha: str, plan: SwitchBackPlan,
                      present: set[str], files: Mapping[str, str], memory: LoopMemory,
                      known: bool) -> list[Outcome]:
    """Open or update a pull request per planned change; close those whose staging image is gone.

    ``present``: the branch names of every staging image still in the default branch (promoted
    or not); ``files``: the planned files' text at ``head_sha``; ``known``: whether ``memory``
    reflects GitHub (else the open switch-back pull requests are listed once).
    """
    git = GitData(raw, repo)
    if not known:
        _recall(raw, repo, memory)
    out = [_sync_one(raw, git, repo, default_branch, head_sha, change, files, memory) for change in plan.changes]
    for branch in sorted(set(memory.switch_backs) - {branch_for(c) for c in plan.changes} - present):
        out.append(_close(raw, git, repo, branch, memory))
    return out


def _sync_one(raw: RawClient, git: GitData, repo: str, default_branch: str, head_sha: str, change: SwitchBack,
              files: Mapping[str, str], memory: LoopMemory) -> Outcome:
    branch = branch_for(change)
    if branch == default_branch or not branch.startswith(BRANCH_PREFIX):
        raise ValueError(f"refusing to write branch {branch!r} of {repo}")  # never the default branch
    wanted = edits_digest(change)
    remembered = memory.switch_backs.get(branch)
    if remembered is not None and remembered.edits_digest == wanted:
        return Outcome(branch, "unchanged", remembered.number)
    tip = git.branch_head(branch)
    tip_commit = git.commit(tip) if tip is not None else None
    if tip_commit is not None and not is_own(tip_commit, change):
        log.info("%s: branch %s has commits by someone else; not touching it", repo, branch)
        return Outcome(branch, "blocked", remembered.number if remembered else None, "commits by someone else")
    if tip is not None and tip_commit is not None and _trailer(change, wanted) in tip_commit.message.splitlines():
        # The same edits are on the branch already (the memory of them was lost): nothing to write.
        number, action = _ensure_pull(raw, repo, default_branch, branch, change, commit=tip)
        memory.switch_backs[branch] = SwitchBackMemory(number, tip, wanted)
        return Outcome(branch, "unchanged" if action == "updated" else action, number)
    new_files = {path: apply_edits(files[path], edits) for path, edits in edits_by_path([change]).items()}
    commit = git.write_commit(head_sha, new_files, commit_message(change, wanted))
    if tip is None:
        git.create_branch(branch, commit)
    else:
        # The tip is the App's own single commit: replaced by the new one, never stacked on.
        raw.request("PATCH", f"/repos/{repo}/git/refs/heads/{branch}", json={"sha": commit, "force": True})
    number, action = _ensure_pull(raw, repo, default_branch, branch, change)
    memory.switch_backs[branch] = SwitchBackMemory(number, commit, wanted)
    return Outcome(branch, action, number)


def is_own(commit: CommitInfo, change: SwitchBack) -> bool:
    """The App's switch-back commit for this image (its trailer) at the tip: nothing stacked on top."""
    return any(line.startswith(f"{TRAILER} {change.slug} ") for line in commit.message.splitlines())


def _trailer(change: SwitchBack, digest: str) -> str:
    """Names the image and the edits, so a later run knows the branch holds exactly these edits."""
    return f"{TRAILER} {change.slug} {digest[:16]}"


def _ensure_pull(raw: RawClient, repo: str, default_branch: str, branch: str,
                 change: SwitchBack, commit: str | None = None) -> tuple[int, Action]:
    """The branch's open pull request (its description brought up to date), else a new one; but a
    pull request someone closed on this very ``commit`` stays closed (they declined it)."""
    owner = repo.split("/", 1)[0]
    body = pull_body(change)
    listed = raw.request("GET", f"/repos/{repo}/pulls", params={"head": f"{owner}:{branch}", "state": "all"}).json()
    opened = [p for p in listed if p.get("state") == "open"]
    if opened:
        number = int(opened[0]["number"])
        if opened[0].get("body") != body:
            raw.request("PATCH", f"/repos/{repo}/pulls/{number}", json={"body": body, "title": pull_title(change)})
        return number, "updated"
    declined = [p for p in listed if commit is not None and p.get("head", {}).get("sha") == commit]
    if declined:
        return int(declined[0]["number"]), "declined"
    created = raw.request("POST", f"/repos/{repo}/pulls", json={
        "title": pull_title(change), "head": branch, "base": default_branch, "body": body,
        "maintainer_can_modify": True})
    return int(created.json()["number"]), "opened"


def _close(raw: RawClient, git: GitData, repo: str, branch: str, memory: LoopMemory) -> Outcome:
    """The staging image left the default branch: close the pull request unless it is already
    closed (merged: that is how the image left), and delete the branch if only the App wrote it."""
    record = memory.switch_backs.pop(branch)
    pull = raw.request("GET", f"/repos/{repo}/pulls/{record.number}", expect=(200, 404))
    still_open = pull.status_code == 200 and pull.json().get("state") == "open"
    if still_open:
        raw.request("PATCH", f"/repos/{repo}/pulls/{record.number}", json={"state": "closed"}, expect=(200, 422))
        raw.request("POST", f"/repos/{repo}/issues/{record.number}/comments", expect=(201, 404, 410, 422), json={
            "body": "The staging image is no longer in the default branch; closing this switch-back."})
    if git.branch_head(branch) == record.commit:
        git.delete_branch(branch)  # only the App's own commit is on it
    return Outcome(branch, "closed" if still_open else "forgotten", record.number)


def _recall(raw: RawClient, repo: str, memory: LoopMemory) -> None:
    """The open switch-back pull requests, when the memory of them was lost."""
    listed: list[dict[str, Any]] = raw.request("GET", f"/repos/{repo}/pulls",
                                                params={"state": "open", "per_page": 100}).json()
    for pull in listed:
        branch = str(pull["head"]["ref"])
        if branch.startswith(BRANCH_PREFIX) and branch not in memory.switch_backs:
            memory.switch_backs[branch] = SwitchBackMemory(int(pull["number"]), str(pull["head"]["sha"]), "")


def pull_title(change: SwitchBack) -> str:
    names = change.release_names
    if len(names) == 1:
        return f"Switch {change.slug} back to the release image {names[0]}"
    return f"Switch the {change.slug} images back to their release images"


def commit_message(change: SwitchBack, digest: str) -> str:
    lines = [pull_title(change), "", f"{change.staging_name} was promoted: the release image has the same digest.",
             "Only the image references change; configuration follows in later commits.", ""]
    lines += [f"Refs #{n}" for n in change.issues]
    return "\n".join([*lines, _trailer(change, digest)]) + "\n"


def pull_body(change: SwitchBack) -> str:
    out = [PULL_MARKER,
           f"The staging builds of `{change.staging_name}` have been promoted: "
           f"{', '.join(f'`{n}`' for n in change.release_names)} hold the same images. This pull request "
           "switches the references back to the release images and changes "
           "nothing else (the first step of the two-step change; configuration follows separately).", "",
           "| Staging reference | Release reference | Digest | Source |", "|---|---|---|---|"]
    seen: set[str] = set()
    for row in change.rows:
        promotion = row.promotion
        if row.ref.reference in seen or promotion.release is None:
            continue
        seen.add(row.ref.reference)
        source = f"promoter manifest `{promotion.manifest}`" if promotion.manifest else "registry"
        out.append(f"| `{row.ref.reference}` | `{promotion.release.canonical()}` | "
                   f"`{promotion.staging_digest}` (staging and release) | {source} |")
    out += ["", "Lines changed:", ""]
    out += [f"- `{e.path}:{e.line}`" for e in change.edits]
    if change.issues:
        out += ["", " ".join(f"Refs #{n}" for n in change.issues)]
    return "\n".join(out) + "\n"
