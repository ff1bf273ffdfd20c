"""`check` output a reviewer can read: references with --diff, grouped annotations, anchors, plurals,
and one inline comment per line with notices left to the check run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

try:
    from tests.test_policy_scenario import run as run_scenario
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run as run_scenario

from app.cli import main
from app.core.models import Analysis, Finding
from app.report.check_formats import format_github, format_text
from app.report.inline_comments import plan_inline
from app.report.summary import findings_table

ADDON = "upup/models/cloudup/resources/addons/dns.yaml"
MIGRATION = f"""diff --git a/{ADDON} b/{ADDON}
index 1111111..2222222 100644
--- a/{ADDON}
+++ b/{ADDON}
@@ -10,4 +10,4 @@ spec:
       containers:
-      - image: registry.k8s.io/coredns/coredns:v1.11.1
+      - image: k8s.gcr.io/coredns/coredns:v1.11.1
         name: coredns
-      - image: registry.k8s.io/cpa/cluster-proportional-autoscaler:1.8.9
+      - image: gcr.io/k8s-staging-cpa/cluster-proportional-autoscaler:1.8.9
"""


def check(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, *argv: str) -> str:
    diff = tmp_path / "pr.diff"
    diff.write_text(text)
    main(["check", "--diff", str(diff), "--fail-on", "never", *argv])
    out, _ = capsys.readouterr()
    return out


def test_check_json_with_a_diff_returns_its_references(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = json.loads(check(capsys, tmp_path, MIGRATION, "--format", "json"))
    assert doc["findings"]
    assert {(r["side"], r["reference"]) for r in doc["references"]} == {
        ("removed", "registry.k8s.io/coredns/coredns:v1.11.1"),
        ("added", "k8s.gcr.io/coredns/coredns:v1.11.1"),
        ("removed", "registry.k8s.io/cpa/cluster-proportional-autoscaler:1.8.9"),
        ("added", "gcr.io/k8s-staging-cpa/cluster-proportional-autoscaler:1.8.9"),
    }
    diff = tmp_path / "pr.diff"
    main(["scan", "--diff", str(diff), "--format", "json"])
    scanned, _ = capsys.readouterr()
    assert doc["references"] == json.loads(scanned)["references"]  # the same contract as scan


def finding(rule: str, name: str, severity: str, line: int | None, *, side: str = "added",
            path: str = "deploy/app.yaml") -> Finding:
    return Finding(rule, name, severity, path, line, f"{rule} at {line}", f"{rule}-{path}-{line}-{side}",
                   side=side)  # type: ignore[arg-type]


def analysis(findings: list[Finding]) -> Analysis:
    return Analysis(references=[], findings=findings, commits=[], change_pattern="n/a")


def test_github_format_caps_annotations_per_rule_with_a_count() -> None:
    many = [finding("IR005", "deprecated-registry", "warning", n) for n in range(1, 24)]
    staging = finding("IR001", "staging-image", "error", 40)
    out = format_github(analysis([*many, staging]), per_rule=10).splitlines()
    assert sum(line.startswith("::warning file=") for line in out) == 10
    assert out[0].startswith("::error file=deploy/app.yaml,line=40,title=IR001 staging-image::")
    assert "::warning title=IR005 deprecated-registry::13 more findings of IR005 deprecated-registry" in out[-2]
    assert out[-1] == "0 image references changed; 1 error, 23 warnings, 0 notices."


def test_github_format_does_not_anchor_removed_lines_on_the_new_file() -> None:
    removed = finding("IR017", "staging-in-history", "notice", 12, side="removed")
    [line, _] = format_github(analysis([removed])).splitlines()
    assert line.startswith("::notice file=deploy/app.yaml,title=IR017 staging-in-history::(removed line 12) ")
    assert "line=12" not in line


def test_totals_use_singular_and_plural() -> None:
    text = format_text(analysis([finding("IR001", "staging-image", "error", 3)]))
    assert text.rstrip().endswith("0 image references changed; 1 error, 0 warnings, 0 notices.")


def test_one_inline_comment_per_line_and_notices_stay_in_the_check_run() -> None:
    staging = finding("IR001", "staging-image", "error", 7)
    tag = finding("IR002", "mutable-tag", "warning", 7)
    order = finding("IR010", "mixed-image-commit", "notice", 9)
    plan = plan_inline([tag, order, staging], {"deploy/app.yaml": frozenset(range(1, 20))}, set(), cap=30)
    [comment] = plan.new
    assert (comment.line, [f.rule for f in comment.findings]) == (7, ["IR001", "IR002"])
    assert plan.shown[tag.fingerprint] == plan.shown[staging.fingerprint] == "inline comment"
    assert plan.shown[order.fingerprint] == "check run (notices are not commented inline)"


def test_summary_counts_repeated_rules() -> None:
    many = [finding("IR005", "deprecated-registry", "warning", n) for n in range(1, 5)]
    table = findings_table([*many, finding("IR001", "staging-image", "error", 9)], {}, 50)
    assert table.splitlines()[0] == (
        "**By rule:** `IR001` staging-image: 1 error · `IR005` deprecated-registry: 4 warnings"
    )


@pytest.mark.parametrize("tag", ["bookworm-v1.0.5", "v2.4.0-go1.23.2-bookworm.0"])
def test_staging_release_with_a_distro_suffix_gets_the_release_suggestion(tag: str) -> None:
    result = run_scenario(f"""# file: images/Dockerfile
+FROM gcr.io/k8s-staging-build-image/debian-base:{tag}
""")
    [f] = [f for f in result.findings if f.rule == "IR001"]
    assert f.suggestion == f"FROM registry.k8s.io/build-image/debian-base:{tag}"


def test_git_describe_tag_is_still_not_a_release() -> None:
    result = run_scenario("""# file: images/Dockerfile
+FROM gcr.io/k8s-staging-build-image/debian-base:v2.4.0-3-g1a2b3c4
""")
    [f] = [f for f in result.findings if f.rule == "IR001"]
    assert f.suggestion is None and "not a release version" in f.message


def test_commented_out_reference_is_never_the_anchor() -> None:
    # The release reference kept as a comment above the active staging line (kops #13588).
    result = run_scenario("""# commit: Update etcd-manager to a staging build
# file: pkg/model/components/etcdmanager/model.go
@@ 180
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220417
+    # - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220417
+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220417-19-g1140ce25
# file: pkg/model/components/etcd.go
-    DefaultEtcd3Version_1_22 = "3.5.3"
+    DefaultEtcd3Version_1_22 = "3.5.4"
""")
    anchors = {(f.rule, f.line) for f in result.findings}
    assert ("IR010", 181) in anchors and ("IR001", 181) in anchors
    assert all(line != 180 for _, line in anchors)  # the commented-out copy
