"""Compact pull-request scenarios for policy tests and the docs/rules.md examples.

A scenario is text: ``# key: value`` headers, then diff lines (``+added``, ``-removed``,
`` context``).  Headers:

    # file: PATH [(new)|(deleted)]    start a file (line numbers start at 1, or at "@@ N")
    @@ N                              the next lines start at line N (old and new side)
    # commit: SUBJECT                 start a commit; files that follow belong to it
    # policy: {flow YAML}             the repository policy (several lines are joined)
    # today: YYYY-MM-DD               EvalContext.today (default 2026-01-15)
    # head: SHA                       EvalContext.head_sha (default "head0000")
    # approved-by: LOGIN [at SHA] [teams ORG/TEAM,...]
    # approvals: none                 approvals known and empty (default: not known)
    # issue #N: open|closed           the issue states gathered before evaluation (default: not checked)
    # registry: REF digest SHA256     registry verification is on, and REF (a tag) is that digest
    # registry: REF missing           ... and REF does not exist (any reference not listed: missing)
    # registry: HOST unreachable      ... and HOST cannot be asked

With ``# registry:`` headers the evidence is gathered by the product's own ``app.registry.verify.gather``
from a table-driven resolver (no network); without them verification is off.

References are found by a deliberately small extractor (``image:`` values, Dockerfile ``FROM``,
``--image=``, quoted strings, YAML list items); the real extractor is tested elsewhere.  A file
named like the policy path makes the scenario change the policy (old and new text are rebuilt
from its lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from app.core.diffs import FileDiff, Hunk, Line
from app.core.models import RefChange, Side
from app.core.netrefs import net_references
from app.core.references import ImageRef, parse, try_parse
from app.policy import (
    Approval,
    CommitInput,
    EvalContext,
    Evaluation,
    Policy,
    evaluate,
    load_policy,
)
from app.policy.config import POLICY_PATH
from app.policy.context import IssueState
from app.registry.client import Resolution
from app.registry.verify import gather

DEFAULT_TODAY = date(2026, 1, 15)
HEAD = "head0000"

_CANDIDATE_RES = (
    re.compile(r"\bimage:\s*[\"']?([^\s\"'#]+)"),
    re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE),
    re.compile(r"--image[= ]([^\s\"']+)"),
    re.compile(r"\"([^\"\s]+)\""),
    re.compile(r"^\s*-\s+([^\s\"'#]+)\s*$"),
)
_COMMENT_RE = re.compile(r"^\s*(#|//)\s?")


def find_refs(path: str, side: Side, number: int, text: str, policy: Policy) -> list[RefChange]:
    """The image references on one line (a test helper, not the product's extractor)."""
    body = text
    in_comment = False
    m = _COMMENT_RE.match(text)
    if m:
        in_comment = True
        body = text[m.end():]
    # A directive is a comment of its own: only what comes before it can hold a reference.
    body = re.split(r"(?:#|//|<!--)\s*image-review:", body)[0]
    out: list[RefChange] = []
    seen: set[str] = set()
    for rx in _CANDIDATE_RES:
        for cand in rx.findall(body):
            cand = cand.strip().rstrip(",")
            if cand in seen or not ("/" in cand or ":" in cand) or cand.startswith(("http", "$")):
                continue
            ref = try_parse(cand)
            if ref is None:
                continue
            seen.add(cand)
            out.append(RefChange(
                path=path, line=number, side=side, reference=cand, registry=ref.registry,
                repository=ref.repository, tag=ref.tag, digest=ref.digest,
                ref_class=policy.classifier.classify(ref.registry, ref.repository),
                context="test", in_comment=in_comment, registry_implicit=ref.registry_implicit,
            ))
    return out


def file_diff(path: str, lines: list[str], start: int = 1, *, new: bool = False,
              deleted: bool = False) -> FileDiff:
    """A FileDiff from "+text" / "-text" / " text" lines; "@@ N" restarts numbering at N."""
    f = FileDiff(None if new else path, None if deleted else path)
    old_no = new_no = start
    hunk = Hunk(start, 0, start, 0, "")
    f.hunks.append(hunk)
    for raw in lines:
        if raw.startswith("@@"):
            old_no = new_no = int(raw[2:].strip())
            hunk = Hunk(old_no, 0, new_no, 0, "")
            f.hunks.append(hunk)
            continue
        kind, text = (raw[0], raw[1:]) if raw else (" ", "")
        if kind == "+":
            hunk.lines.append(Line("+", text, None, new_no))
            new_no += 1
            f.added += 1
        elif kind == "-":
            hunk.lines.append(Line("-", text, old_no, None))
            old_no += 1
            f.removed += 1
        else:
            hunk.lines.append(Line(" ", text, old_no, new_no))
            old_no += 1
            new_no += 1
    f.hunks = [h for h in f.hunks if h.lines]
    return f


def refs_of(files: list[FileDiff], policy: Policy, commit: str | None = None) -> list[RefChange]:
    out: list[RefChange] = []
    for f in files:
        for hunk in f.hunks:
            for line in hunk.lines:
                if line.kind == "+" and f.new_path and line.new_no:
                    found = find_refs(f.new_path, "added", line.new_no, line.text, policy)
                elif line.kind == "-" and f.old_path and line.old_no:
                    found = find_refs(f.old_path, "removed", line.old_no, line.text, policy)
                else:
                    continue
                out += [RefChange(**{**_fields(r), "commit": commit}) for r in found]
    return out


def _fields(r: RefChange) -> dict[str, object]:
    return {name: getattr(r, name) for name in RefChange.__dataclass_fields__}


@dataclass
class TableRegistry:
    """A resolver answering from a table: tag → digest, missing references, unreachable hosts."""

    digests: dict[ImageRef, str] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    asked: list[ImageRef] = field(default_factory=list)

    def add(self, spec: str) -> None:
        target, _, rest = spec.partition(" ")
        words = rest.split()
        if words == ["unreachable"]:
            self.unreachable.add(target)
        elif len(words) == 2 and words[0] == "digest":
            self.digests[parse(target)] = words[1]
        elif words != ["missing"]:
            raise ValueError(f"registry header: want 'REF digest SHA', 'REF missing' or 'HOST unreachable': {spec!r}")

    def allows(self, registry: str) -> bool:
        return True

    def resolve(self, ref: ImageRef) -> Resolution:
        self.asked.append(ref)
        if ref.registry in self.unreachable:
            return Resolution(ref, "unknown", reason=f"{ref.registry}: cannot connect (connection refused)")
        if ref.digest is not None:
            # A digest exists in a repository when one of its tags points at it.
            present = any(r.name == ref.name and d == ref.digest for r, d in self.digests.items())
            return Resolution(ref, "found", ref.digest) if present else self._missing(ref)
        digest = self.digests.get(ImageRef(ref.registry, ref.repository, ref.tag))
        return Resolution(ref, "found", digest) if digest else self._missing(ref)

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]:
        return [self.resolve(r) for r in refs]

    @staticmethod
    def _missing(ref: ImageRef) -> Resolution:
        return Resolution(ref, "not-found", reason=f"{ref.registry}: {ref.repository}:{ref.tag} not found")


@dataclass
class _FileSpec:
    path: str
    lines: list[str] = field(default_factory=list)
    new: bool = False
    deleted: bool = False

    def build(self) -> FileDiff:
        start = 1
        lines = self.lines
        if lines and lines[0].startswith("@@"):
            start = int(lines[0][2:].strip())
            lines = lines[1:]
        return file_diff(self.path, lines, start, new=self.new, deleted=self.deleted)


@dataclass
class Scenario:
    files: list[FileDiff]
    refs: list[RefChange]
    commits: list[CommitInput] | None
    policy: Policy
    context: EvalContext

    def run(self) -> Evaluation:
        return evaluate(self.refs, self.files, self.commits, self.policy, self.context)


def parse_scenario(text: str, base_policy: Policy | None = None) -> Scenario:
    policy_lines: list[str] = []
    today = DEFAULT_TODAY
    head = HEAD
    approvals: list[Approval] | None = None
    issues: dict[int, str] = {}
    registry: TableRegistry | None = None
    commits: list[tuple[str, list[_FileSpec]]] = []
    loose: list[_FileSpec] = []
    current: _FileSpec | None = None
    for raw in text.splitlines():
        header = re.match(r"^# ([a-z-]+(?: #\d+)?):\s?(.*)$", raw)
        if header:
            key, value = header[1], header[2].strip()
            if key == "file":
                new = value.endswith("(new)")
                deleted = value.endswith("(deleted)")
                path = re.sub(r"\s*\((new|deleted)\)$", "", value)
                current = _FileSpec(path, new=new, deleted=deleted)
                (commits[-1][1] if commits else loose).append(current)
            elif key == "commit":
                commits.append((value, []))
                current = None
            elif key == "policy":
                policy_lines.append(value)
            elif key == "today":
                today = date.fromisoformat(value)
            elif key == "head":
                head = value
            elif key == "approvals":
                approvals = []
            elif key == "approved-by":
                approvals = approvals or []
                m = re.match(r"(\S+)(?: at (\S+))?(?: teams (\S+))?$", value)
                assert m, value
                teams = tuple(m[3].split(",")) if m[3] else ()
                approvals.append(Approval(m[1], m[2] or head, teams))
            elif key.startswith("issue #"):
                issues[int(key[7:])] = value
            elif key == "registry":
                registry = registry or TableRegistry()
                registry.add(value)
            else:
                raise ValueError(f"unknown scenario header {raw!r}")
            continue
        if current is None:
            if raw.strip():
                raise ValueError(f"diff line before any '# file:' header: {raw!r}")
            continue
        current.lines.append(raw)

    policy_text = "\n".join(policy_lines) if policy_lines else None
    base = base_policy or load_policy(policy_text)
    assert base_policy is not None or not base.issues, base.issues
    commit_inputs: list[CommitInput] | None = None
    if commits:
        commit_inputs = []
        pr_files: list[FileDiff] = []
        for i, (subject, specs) in enumerate(commits):
            sha = f"c{i + 1:07d}"
            cfiles = [s.build() for s in specs]
            commit_inputs.append(CommitInput(sha, subject, cfiles, refs_of(cfiles, base, sha)))
            pr_files += cfiles
        files = pr_files
        refs = net_references(c.refs for c in commit_inputs)
    else:
        files = [s.build() for s in loose]
        refs = refs_of(files, base)

    old_text = new_text = None
    changed = False
    for f in files:
        if POLICY_PATH in (f.new_path, f.old_path):
            changed = True
            lines = [ln for h in f.hunks for ln in h.lines]
            old_text = None if f.old_path is None else "\n".join(ln.text for ln in lines if ln.kind != "+")
            new_text = None if f.new_path is None else "\n".join(ln.text for ln in lines if ln.kind != "-")
            if old_text is not None:
                base = load_policy(old_text)

    states: dict[int, IssueState] = {n: s for n, s in issues.items() if s in ("open", "closed")}  # type: ignore[misc]
    ctx = EvalContext(
        today=today,
        issue_states=states if issues else None,
        approvals=approvals,
        head_sha=head,
        policy_text_old=old_text,
        policy_text_new=new_text,
        policy_changed=changed,
        registry=gather(refs, base, registry) if registry is not None else None,
    )
    return Scenario(files, refs, commit_inputs, base, ctx)


def run(text: str) -> Evaluation:
    return parse_scenario(text).run()


def codes(result: Evaluation, *, include_notices: bool = True) -> list[str]:
    return [f.rule for f in result.findings if include_notices or f.severity != "notice"]


# --- tests of the helper itself -----------------------------------------------------------------


def test_find_refs_reads_common_forms() -> None:
    from app.policy import default_policy

    p = default_policy()
    assert [r.reference for r in find_refs("a.yaml", "added", 1, "  image: registry.k8s.io/pause:3.9", p)] == [
        "registry.k8s.io/pause:3.9"
    ]
    assert [r.reference for r in find_refs("Dockerfile", "added", 1, "FROM golang:1.22 AS build", p)] == [
        "golang:1.22"
    ]
    commented = find_refs("a.yaml", "added", 1, "# image: gcr.io/k8s-staging-x/y:v1", p)
    assert commented and commented[0].in_comment
    assert find_refs("a.md", "added", 1, "just words: here", p) == []


def test_scenario_numbers_lines_like_a_diff() -> None:
    s = parse_scenario("# file: a.yaml\n@@ 10\n ctx\n-image: a/b:1\n+image: a/b:2\n")
    lines = s.files[0].hunks[0].lines
    assert [(ln.kind, ln.old_no, ln.new_no) for ln in lines] == [(" ", 10, 10), ("-", 11, None), ("+", None, 11)]
    assert [(r.side, r.line, r.tag) for r in s.refs] == [("removed", 11, "1"), ("added", 11, "2")]

