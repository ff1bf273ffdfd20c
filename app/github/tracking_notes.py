"""Notes on exemptions' tracking issues: once when the release becomes available, once when the
exemption is ``NOTE_EXPIRY_DAYS`` days or less from expiry.

Each note carries a marker naming its kind and image; the loop's memory says which were posted,
and before posting one the issue's comments are searched for its marker, so a lost memory does
not post it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.analysis.staging_board import StagingBoard, StagingRow
from app.github.client import RawClient
from app.github.loop_memory import LoopMemory

NOTE_EXPIRY_DAYS = 7


@dataclass(frozen=True, slots=True)
class Note:
    issue: int
    kind: str  # "release-available" or "expiring"
    image: str
    body: str

    @property
    def key(self) -> str:
        return f"{self.issue}:{self.kind}:{self.image}"

    @property
    def marker(self) -> str:
        return f"<!-- image-review:note {self.key} -->"


def notes_for(board: StagingBoard) -> list[Note]:
    out: dict[str, Note] = {}
    for row in board.rows:
        for note in _row_notes(row, board):
            out.setdefault(note.key, note)
    return list(out.values())


def _row_notes(row: StagingRow, board: StagingBoard) -> list[Note]:
    issue, expires = row.item.issue, row.item.expires
    if issue is None:
        return []
    image = row.ref.name or row.ref.reference
    notes = []
    promotion = row.promotion
    if promotion.state == "promoted" and promotion.release is not None:
        notes.append(Note(issue, "release-available", image,
                          f"The release image is available: `{promotion.release.canonical()}` has the same digest "
                          f"`{promotion.staging_digest}` as the staging build `{row.ref.reference}` used in "
                          f"`{row.ref.path}:{row.ref.line}`. It can be switched back now."))
    if expires is not None and 0 <= (expires - board.today).days <= NOTE_EXPIRY_DAYS:
        notes.append(Note(issue, "expiring", image,
                          f"The exemption for `{row.ref.reference}` (`{row.ref.path}:{row.ref.line}`) expires on "
                          f"{expires}, in {(expires - board.today).days} days. Switch back to a release image "
                          "or extend the exemption with a reason."))
    return notes


def post_notes(raw: RawClient, repo: str, board: StagingBoard, memory: LoopMemory) -> list[str]:
    """Post the notes not posted yet; returns their keys."""
    posted = []
    for note in notes_for(board):
        if note.key in memory.notes:
            continue
        if not _already_there(raw, repo, note):
            body = f"{note.marker}\n{note.body}\n"
            raw.request("POST", f"/repos/{repo}/issues/{note.issue}/comments", json={"body": body},
                        expect=(201, 404, 410))
            posted.append(note.key)
        memory.notes.append(note.key)
    return posted


def _already_there(raw: RawClient, repo: str, note: Note) -> bool:
    response = raw.request("GET", f"/repos/{repo}/issues/{note.issue}/comments", params={"per_page": 100},
                           expect=(200, 404, 410))
    if response.status_code != 200:
        return True  # no such issue: nothing to note on
    return any(note.marker in (c.get("body") or "") for c in response.json())
