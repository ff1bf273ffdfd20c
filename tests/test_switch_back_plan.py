"""The pure parts of the staging loop: the board's order, the switch-back rewrite, the notes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from app.analysis.audit import audit_blobs
from app.analysis.staging_board import Promotion, StagingBoard, build_board
from app.analysis.switch_back import apply_edits, plan_switch_back, written_name
from app.core.references import try_parse
from app.github.tracking_notes import notes_for
from app.policy import default_policy

TODAY = date(2026, 12, 1)
STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager"
RELEASE = "registry.k8s.io/etcdadm/etcd-manager"
DIGEST = "sha256:" + "ab" * 32


def board_of(files: dict[str, str]) -> StagingBoard:
    policy = default_policy()
    report = audit_blobs(((p, t.encode()) for p, t in files.items()), "c" * 40, policy, TODAY)
    return build_board(report, policy, None, TODAY)


def promoted(board: StagingBoard, tags: tuple[str, ...] = ("v1", "v2", "v7", "v8")) -> StagingBoard:
    """Rows with these tags promoted under the release name and tag (what the registries would say)."""
    rows = []
    for row in board.rows:
        if row.ref.tag not in tags:
            rows.append(row)
            continue
        release = try_parse(f"{RELEASE}:{row.ref.tag}")
        rows.append(replace(row, promotion=Promotion("promoted", "same digest", release, DIGEST, DIGEST)))
    return replace(board, rows=rows)


def test_expired_then_expiring_within_14_days_come_first() -> None:
    board = board_of({
        "a/later.yaml": "# image-review: allow staging-image until 2027-06-01 tracked-by #3\n"
                        f"image: {STAGING}:v1\n",
        "b/soon.yaml": "# image-review: allow staging-image until 2026-12-10 tracked-by #2\n"
                       f"image: {STAGING}:v2\n",
        "c/expired.yaml": "# image-review: allow staging-image until 2026-11-01 tracked-by #1\n"
                          f"image: {STAGING}:v3\n",
        "d/none.yaml": f"image: {STAGING}:v4\n",
    })
    assert [(r.ref.path, r.item.issue) for r in board.rows] == [
        ("c/expired.yaml", 1), ("b/soon.yaml", 2), ("d/none.yaml", None), ("a/later.yaml", 3)]
    assert [i.issue for i in board.exemption_alerts] == [1]


def test_the_rewrite_changes_only_the_reference_and_keeps_a_pinned_digest() -> None:
    # The promoted v1 also starts the unpromoted v1-rc.1 on the same line: that one stays.
    text = (f"command: [run, --old={STAGING}:v1-rc.1, --image={STAGING}:v1]\n"
            f"pinned: {STAGING}:v2@{DIGEST}  # keep\n")
    board = promoted(board_of({"deploy/x.yaml": text}))
    plan = plan_switch_back(board, {"deploy/x.yaml": text}.get)
    [change] = plan.changes
    assert change.staging_name == STAGING and change.slug == "etcd-manager"
    assert apply_edits(text, change.edits) == (
        f"command: [run, --old={STAGING}:v1-rc.1, --image={RELEASE}:v1]\n"
        f"pinned: {RELEASE}:v2@{DIGEST}  # keep\n")


def test_a_split_helm_reference_changes_its_repository_line_only() -> None:
    text = f"image:\n  repository: {STAGING}\n  tag: v1\n  pullPolicy: Always\n"
    board = promoted(board_of({"charts/values.yaml": text}))
    [change] = plan_switch_back(board, {"charts/values.yaml": text}.get).changes
    assert apply_edits(text, change.edits) == f"image:\n  repository: {RELEASE}\n  tag: v1\n  pullPolicy: Always\n"


def test_a_line_that_moved_is_skipped_and_a_changed_file_is_refused() -> None:
    text = f"image: {STAGING}:v1\n"
    board = promoted(board_of({"deploy/x.yaml": text}))
    plan = plan_switch_back(board, {"deploy/x.yaml": "image: something-else\n"}.get)
    assert plan.changes == [] and [why for _, why in plan.skipped] == ["the line no longer holds the reference"]
    [change] = plan_switch_back(board, {"deploy/x.yaml": text}.get).changes
    with pytest.raises(ValueError, match=r"deploy/x\.yaml:1 has changed since it was read"):
        apply_edits("image: edited\n", change.edits)


def test_unpromoted_rows_are_not_switched() -> None:
    board = board_of({"deploy/x.yaml": f"image: {STAGING}:v3.0.20220428\nimage: {STAGING}:dev\n"})
    # Offline: the release is known but not checked; a tag that is not a version has no release.
    assert [r.promotion.state for r in board.rows] == ["not-checked", "no-release"]
    assert plan_switch_back(board, lambda _p: None).changes == []


@pytest.mark.parametrize(("reference", "name"), [
    (f"{STAGING}:v1@{DIGEST}", STAGING), ("localhost:5000/app", "localhost:5000/app"),
    ("localhost:5000/app:v1", "localhost:5000/app"), ("busybox", "busybox"),
])
def test_written_name(reference: str, name: str) -> None:
    assert written_name(reference) == name


def test_notes_once_per_kind_release_available_and_seven_days_from_expiry() -> None:
    files = {f"deploy/{n}.yaml": f"# image-review: allow staging-image until {until} tracked-by #{n}\n"
                                 f"image: {STAGING}:v{n}\n" for n, until in ((7, "2026-12-08"), (8, "2026-12-09"))}
    board = board_of(files)
    assert [(n.issue, n.kind) for n in notes_for(board)] == [(7, "expiring")]
    assert [(n.issue, n.kind) for n in notes_for(promoted(board))] == [
        (7, "release-available"), (7, "expiring"), (8, "release-available")]


def test_grouped_by_project_two_images_make_one_change() -> None:
    other = "gcr.io/k8s-staging-etcdadm/etcd-backup"
    text = f"image: {STAGING}:v1\nsidecar: {other}:v1\n"
    board = board_of({"deploy/x.yaml": text})
    rows = [replace(r, promotion=Promotion("promoted", "same digest",
                                           try_parse(f"registry.k8s.io/etcdadm/{r.ref.name.rsplit('/', 1)[1]}:v1"),
                                           DIGEST, DIGEST)) for r in board.rows if r.ref.name]
    board = replace(board, rows=rows)
    by_image = plan_switch_back(board, {"deploy/x.yaml": text}.get)
    assert [c.slug for c in by_image.changes] == ["etcd-backup", "etcd-manager"]
    [change] = plan_switch_back(board, {"deploy/x.yaml": text}.get, "project").changes
    assert (change.slug, change.release_names) == (
        "k8s-staging-etcdadm", ["registry.k8s.io/etcdadm/etcd-backup", "registry.k8s.io/etcdadm/etcd-manager"])
    assert apply_edits(text, change.edits) == (
        "image: registry.k8s.io/etcdadm/etcd-manager:v1\nsidecar: registry.k8s.io/etcdadm/etcd-backup:v1\n")


def test_switch_back_group_must_be_image_or_project() -> None:
    from app.policy import PolicyError, parse_policy_strict

    assert parse_policy_strict("switch_back_group: project\n").switch_back_group == "project"
    with pytest.raises(PolicyError) as bad:
        parse_policy_strict("switch_back_group: repo\n")
    assert any("must be image or project, not 'repo'" in str(i) for i in bad.value.issues)
