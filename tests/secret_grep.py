"""Finds secrets in log text: the App's private key, webhook secrets, installation tokens, the
App's JWTs and registry credentials.

Shapes that are secret whatever their value (a PEM private key header, an installation token as
GitHub and the fake issue them, a signed JWT, a Basic authorization value) are matched by
pattern; values only a test knows (its webhook secret, the lines of its private key, a registry
password) are matched literally.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.service.logs import JsonFormatter

PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "installation token": re.compile(r"\bgh[sp]_[A-Za-z0-9]{36}\b"),
    "JWT": re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}"),
    "Basic credentials": re.compile(r"\bBasic [A-Za-z0-9+/]{8,}={0,2}"),
    "bearer token": re.compile(r"\b[Bb]earer [\w.~+/-]{20,}"),
}


def private_key_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM key: any one of them in a log is a leak."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----") and len(line) >= 40]


def leaks(text: str, literals: Iterable[str] = ()) -> list[str]:
    """What secret ``text`` holds, one description each (empty when it holds none)."""
    found = [f"{name}: {m.group(0)[:12]}…" for name, pattern in PATTERNS.items() if (m := pattern.search(text))]
    found += [f"literal secret {s[:4]}…" for s in literals if len(s) >= 6 and s in text]
    return found


@dataclass
class LogCapture(logging.Handler):
    """Every record of every logger, formatted as the App formats them (exceptions included)."""

    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.DEBUG)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not the App's output
            self.lines.append(str(record.msg))

    __hash__ = logging.Handler.__hash__
