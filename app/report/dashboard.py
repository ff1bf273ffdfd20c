"""The staging board as Markdown (the dashboard issue's body, `audit --format markdown`) and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from app.analysis.audit import AuditItem
from app.analysis.staging_board import StagingBoard, StagingRow
from app.report import escape

DASHBOARD_MARKER = "<!-- image-review:staging-dashboard -->"
DASHBOARD_TITLE = "Staging images"


@dataclass(frozen=True, slots=True)
class BoardLinks:
    """How to link a file line and an issue: plain text for the CLI, GitHub URLs for the App."""

    blob_base: str | None = None  # https://github.com/o/r/blob/<sha>
    owners: Mapping[int, str] = field(default_factory=dict)  # tracking issue -> its assignees ("@a, @b")

    def line(self, path: str, line: int) -> str:
        if self.blob_base is None:
            return escape.table_cell(escape.code_span(f"{path}:{line}"))
        return f"[{escape.table_cell(f'{path}:{line}')}]({self.blob_base}/{quote(path)}#L{line})"


def board_markdown(board: StagingBoard, links: BoardLinks = BoardLinks(), *,
                   extra: Callable[[StagingBoard], list[str]] | None = None) -> str:
    """The Markdown table; deterministic, so an unchanged board renders byte for byte the same."""
    out = [DASHBOARD_MARKER, f"Staging images in the default branch at {escape.code_span(board.commit[:12])}.",
           "Expired exemptions and those expiring within 14 days come first.", ""]
    if not board.rows:
        out.append("No staging image is left.")
    else:
        out += ["| Image | Where | Path | Exemption | Promotion |", "|---|---|---|---|---|"]
        out += [_row(r, board, links) for r in board.rows]
    if board.exemption_alerts:
        out += ["", "Exemptions that need attention:", ""]
        out += [_alert(i) for i in board.exemption_alerts]
    if extra is not None:
        out += extra(board)
    return "\n".join(out) + "\n"


def _alert(item: AuditItem) -> str:
    where = escape.code_span(f"{item.path}:{item.line or ''}")
    text = f"- {item.status}: {where} {item.subject}" + (f" ({item.detail})" if item.detail else "")
    return escape.markdown(escape.one_line(text))


def _row(row: StagingRow, board: StagingBoard, links: BoardLinks) -> str:
    cells = [escape.table_cell(escape.code_span(row.ref.reference)), links.line(row.ref.path, row.ref.line),
             escape.table_cell(row.path_class), _exemption(row, board, links), escape.table_cell(_promotion(row))]
    return "| " + " | ".join(cells) + " |"


def _exemption(row: StagingRow, board: StagingBoard, links: BoardLinks) -> str:
    item = row.item
    if item.issue is None or item.expires is None:
        return "none"
    days = (item.expires - board.today).days
    when = f"expired {item.expires}" if days < 0 else f"until {item.expires} ({days} days)"
    # Owners are the tracking issue's assignees as GitHub lists them: mentioned on purpose.
    owner = f" ({links.owners[item.issue]})" if item.issue in links.owners else ""
    return f"#{item.issue}{owner}, {when}"


def _promotion(row: StagingRow) -> str:
    promotion = row.promotion
    text = promotion.text
    if promotion.state == "promoted" and promotion.release is not None:
        digest = escape.code_span(str(promotion.staging_digest))
        text += f" {digest} as {escape.code_span(promotion.release.canonical())}"
        if promotion.manifest:
            text += f" (per {escape.code_span(promotion.manifest)})"
    elif promotion.state in ("release-missing", "different-build", "unknown") and promotion.reason:
        text += f": {promotion.reason}"
    return text


def board_json(board: StagingBoard) -> str:
    return json.dumps(board.to_json(), indent=1) + "\n"
