"""The release manager's checklist: every staging image and every exemption in a tree, by urgency."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from app.core.diffs import FileDiff, Hunk, Line
from app.core.extract import extract_file
from app.core.models import RefChange
from app.core.prefilter import file_has_cue
from app.local.inputs import GitRepo, InputError
from app.policy import Exemption, Policy
from app.policy.catalog import STAGING_IMAGE
from app.policy.rules.exemptions import DIRECTIVE, covers, covers_inline, parse_directive

SOON_DAYS = 30
# Urgency, most urgent first.
EXPIRED, INVALID, PRODUCTION, EXPIRING, EXEMPTED, ALLOWED, TRACKED = range(7)
_STATUS = {
    EXPIRED: "exemption expired", INVALID: "exemption malformed", PRODUCTION: "staging image in production",
    EXPIRING: "exemption expires soon", EXEMPTED: "staging image, exempted", ALLOWED: "staging image, allowed path",
    TRACKED: "exemption",
}


@dataclass(frozen=True, slots=True)
class AuditItem:
    urgency: int
    path: str
    line: int | None
    subject: str  # the reference, or the exemption as written
    expires: date | None = None
    issue: int | None = None
    detail: str = ""

    @property
    def status(self) -> str:
        return _STATUS[self.urgency]

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "path": self.path, "line": self.line, "subject": self.subject,
                "expires": self.expires.isoformat() if self.expires else None, "issue": self.issue,
                "detail": self.detail}


@dataclass(slots=True)
class AuditReport:
    ref: str
    items: list[AuditItem] = field(default_factory=list)
    files_scanned: int = 0
    # The staging references behind the staging items, for registry verification and switch-back.
    staging_refs: list[RefChange] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        return any(i.urgency <= PRODUCTION for i in self.items)


def iter_blobs(repo: GitRepo, rev: str) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every file at ``rev``, read through one `git cat-file --batch` process."""
    listing = repo.run("ls-tree", "-r", "-z", "--full-tree", rev)
    entries = [e.split(b"\t", 1) for e in listing.split(b"\0") if e]
    blobs = [(meta.split()[2], path.decode("utf-8", "replace")) for meta, path in entries if meta.split()[1] == b"blob"]
    proc = subprocess.Popen(["git", "-C", repo.root, "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    # Feed the names from a thread: written all at once, they would fill the pipe while git's
    # answers fill the other one, and both processes would wait for ever.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, [sha for sha, _ in blobs]), daemon=True)
    feeder.start()
    for _, path in blobs:
        header = proc.stdout.readline().split()
        if len(header) < 3:
            raise InputError(f"git cat-file stopped early at {path}")
        content = proc.stdout.read(int(header[2]) + 1)[:-1]
        yield path, content
    proc.wait()


def _feed(pipe: IO[bytes], shas: list[bytes]) -> None:
    with pipe:
        for sha in shas:
            pipe.write(sha + b"\n")


def as_added_file(path: str, text: str) -> FileDiff:
    """A whole file as if it were added: the extractor then reads every line."""
    lines = text.splitlines()
    hunk = Hunk(0, 0, 1, len(lines), "", [Line("+", t, None, i) for i, t in enumerate(lines, start=1)])
    return FileDiff(None, path, [hunk], added=len(lines))


def audit_tree(repo: GitRepo, rev: str, policy: Policy, today: date) -> AuditReport:
    return audit_blobs(iter_blobs(repo, rev), rev, policy, today)


def audit_blobs(blobs: Iterable[tuple[str, bytes]], rev: str, policy: Policy, today: date) -> AuditReport:
    """The audit of a tree given as (path, content) pairs: a local repository's or an archive's."""
    report = AuditReport(rev)
    classifier = policy.classifier
    for path, content in blobs:
        report.files_scanned += 1
        if b"\0" in content[:8000] or not file_has_cue(content):
            continue
        text = content.decode("utf-8", "replace")
        exemptions = list(_inline_exemptions(path, text, report, today))
        for ref in extract_file(as_added_file(path, text), classifier):
            if ref.ref_class == "staging" and not ref.in_comment and not ref.partial and _pulled(ref):
                report.items.append(_staging_item(ref.path, ref.line, ref.reference, policy, exemptions, today))
                report.staging_refs.append(ref)
    report.items += [_exemption_item(ex, ex.source, ex.line, today) for ex in policy.exemptions]
    report.items.sort(key=lambda i: (i.urgency, i.expires or date.max, i.path, i.line or 0))
    return report


def _pulled(ref: RefChange) -> bool:
    """A reference something pulls: tagged or pinned, or untagged where an image is expected.

    An untagged name in a code string or in prose ("gcr.io/k8s-testimages") is a location, not a pull.
    """
    return ref.tag is not None or ref.digest is not None or ref.context not in ("code-literal", "text")


def _inline_exemptions(path: str, text: str, report: AuditReport, today: date) -> Iterator[Exemption]:
    if DIRECTIVE not in text:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if DIRECTIVE not in line:
            continue
        directive = parse_directive(path, number, line)
        if directive is None:
            continue
        if directive.exemption is None:
            report.items.append(AuditItem(INVALID, path, number, directive.text, detail=directive.error or ""))
            continue
        report.items.append(_exemption_item(directive.exemption, path, number, today))
        yield directive.exemption


def _exemption_item(ex: Exemption, path: str, line: int | None, today: date) -> AuditItem:
    days = (ex.expires - today).days
    urgency = EXPIRED if days < 0 else EXPIRING if days <= SOON_DAYS else TRACKED
    detail = f"{'expired' if days < 0 else 'expires in'} {abs(days)} days" + (f"; {ex.reason}" if ex.reason else "")
    return AuditItem(urgency, path, line, ex.describe(), ex.expires, ex.issue, detail)


def _staging_item(path: str, line: int, reference: str, policy: Policy, exemptions: list[Exemption],
                  today: date) -> AuditItem:
    # The matchers check applies to an IR001 finding on this line (audit looks at the whole tree).
    rule = STAGING_IMAGE.code
    covering = [ex for ex in exemptions if covers_inline(ex, rule, line)]
    covering += [ex for ex in policy.exemptions if covers(ex, rule, path, reference)]
    cover = next((ex for ex in covering if ex.expires >= today), None)
    if cover is not None:
        return AuditItem(EXEMPTED, path, line, reference, cover.expires, cover.issue, f"tracked by #{cover.issue}")
    # An expired exemption no longer covers the image, but its tracking issue still says who owns it.
    lapsed = next(iter(covering), None)
    expires, issue = (lapsed.expires, lapsed.issue) if lapsed else (None, None)
    lapsed_note = f"; exemption #{issue} expired {expires}" if lapsed else ""
    if policy.is_production(path):
        return AuditItem(PRODUCTION, path, line, reference, expires, issue,
                         "promote it and switch to the release image" + lapsed_note)
    return AuditItem(ALLOWED, path, line, reference, expires, issue, lapsed_note.removeprefix("; "))


def format_audit(report: AuditReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"ref": report.ref, "files_scanned": report.files_scanned,
                           "items": [i.to_json() for i in report.items]}, indent=1) + "\n"
    out = [f"Audit of {report.ref[:12]}: {report.files_scanned} files"]
    for item in report.items:
        where = f"{item.path}:{item.line}" if item.line else item.path
        extra = f"  ({item.detail})" if item.detail else ""
        out.append(f"  {item.status:30} {where}  {item.subject}{extra}")
    if not report.items:
        out.append("  no staging images and no exemptions")
    return "\n".join(out) + "\n"
