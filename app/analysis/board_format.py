"""The staging board as Markdown (the dashboard issue's body, `audit --format markdown`) and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.analysis.staging_board import StagingBoard, StagingRow

DASHBOARD_MARKER = "<!-- image-review:staging-dashboard -->"
DASHBOARD_TITLE = "Staging images"


@dataclass(frozen=True, slots=True)
class BoardLinks:
    """How to link a file line and an issue: plain text for the CLI, GitHub URLs for the App."""

    blob_base: str | None = None  # https://github.com/o/r/blob/<sha>
    owners: Mapping[int, str] = field(default_factory=dict)  # tracking issue -> its assignees ("@a, @b")

    def line(self, path: str, line: int) -> str:
        if self.blob_base is None:
            return f"`{path}:{line}`"
        return f"[{path}:{line}]({self.blob_base}/{path}#L{line})"


def board_markdown(board: StagingBoard, links: BoardLinks = BoardLinks(), *,
                   extra: Callable[[StagingBoard], list[str]] | None = None) -> str:
    """The Markdown table; deterministic, so an unchanged board renders byte for byte the same."""
    out = [DASHBOARD_MARKER, f"Staging images in the default branch at `{board.commit[:12]}`.",
           "Expired exemptions and those expiring within 14 days come first.", ""]
    if not board.rows:
        out.append("No staging image is left.")
    else:
        out += ["| Image | Where | Path | Exemption | Promotion |", "|---|---|---|---|---|"]
        out += [_row(r, board, links) for r in board.rows]
    if board.exemption_alerts:
        out += ["", "Exemptions that need attention:", ""]
        out += [f"- {i.status}: `{i.path}:{i.line or ''}` {_cell(i.subject)}" +
                (f" ({_cell(i.detail)})" if i.detail else "") for i in board.exemption_alerts]
    if extra is not None:
        out += extra(board)
    return "\n".join(out) + "\n"


def _row(row: StagingRow, board: StagingBoard, links: BoardLinks) -> str:
    return "| " + " | ".join([f"`{row.ref.reference}`", links.line(row.ref.path, row.ref.line), row.path_class,
                              _exemption(row, board, links), _promotion(row)]) + " |"


def _exemption(row: StagingRow, board: StagingBoard, links: BoardLinks) -> str:
    item = row.item
    if item.issue is None or item.expires is None:
        return "none"
    days = (item.expires - board.today).days
    when = f"expired {item.expires}" if days < 0 else f"until {item.expires} ({days} days)"
    owner = f" ({links.owners[item.issue]})" if item.issue in links.owners else ""
    return f"#{item.issue}{owner}, {when}"


def _promotion(row: StagingRow) -> str:
    promotion = row.promotion
    text = promotion.text
    if promotion.state == "promoted" and promotion.release is not None:
        text += f" `{promotion.staging_digest}` as `{promotion.release.canonical()}`"
        if promotion.manifest:
            text += f" (per `{promotion.manifest}`)"
    elif promotion.state in ("release-missing", "different-build", "unknown") and promotion.reason:
        text += f": {_cell(promotion.reason)}"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def board_json(board: StagingBoard) -> str:
    return json.dumps(board.to_json(), indent=1) + "\n"
