"""Comment syntax: where a comment starts, and which `image-review:` texts are directives."""

from __future__ import annotations

import pytest

from app.core.comment_syntax import comment_start, line_comment_start

NEEDLE = "image-review:"


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("deploy/a.yaml", "    # image-review: allow staging-image", 4),
        ("deploy/a.yaml", "image: x  # image-review: allow staging-image", 10),
        ("pkg/a.go", "\tImage: x, // image-review: allow staging-image", 11),
        ("pkg/model.go", "    # image-review: allow staging-image", 4),  # YAML in a Go raw string
        ("docs/a.md", "<!-- image-review: allow staging-image -->", 0),
        # Not directives: inside a string, a Markdown heading built in code, a docstring example.
        ("bench/a.py", 'line = f"    # image-review: allow staging-image until {until}"', None),
        ("app/summary.py", 'parts = [MARKER, f"### image-review: {title}"]', None),
        ("app/comments.py", "    Used to find directives such as ``# image-review: ...``.", None),
    ],
)
def test_directive_position(path: str, text: str, expected: int | None) -> None:
    assert comment_start(path, text, NEEDLE) == expected


def test_line_comment_start_ignores_markers_in_strings_and_urls() -> None:
    assert line_comment_start("a.yaml", 'image: "a#b"  # note') == 14
    assert line_comment_start("a.go", 'url := "https://gcr.io/x" // see') == 26
    assert line_comment_start("a.sh", "echo img@sha256:abc#x") == len("echo img@sha256:abc#x")
