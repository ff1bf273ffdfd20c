"""The summary table groups one rule's many findings into one row with counts, so a registry
migration's warnings do not bury a staging image; errors keep a row each; plurals are right."""

from __future__ import annotations

from app.analysis.analyze import ChangeSet, analyze
from app.core.diffs import parse_diff
from app.core.models import Analysis, Finding
from app.report.summary import ReviewFacts, check_summary, comment_body, findings_table, row_groups

IMAGES = ["coredns/coredns:v1.11.1", "kube-proxy:v1.28.2", "pause:3.9", "etcd:3.5.9-0"]
ADDONS = ["dns", "proxy", "etcd", "cache", "metrics"]


def addon(name: str) -> str:
    return f"upup/models/cloudup/resources/addons/{name}.yaml"


def migration_diff(addons: list[str], staging_in: str | None = None) -> str:
    """Addon manifests moved back to `k8s.gcr.io` (every image a deprecated-registry warning)."""
    out = []
    for name in addons:
        path = addon(name)
        added = [f"k8s.gcr.io/{i}" for i in IMAGES]
        if name == staging_in:
            added[0] = "gcr.io/k8s-staging-coredns/coredns:v1.11.1"
        out += [f"diff --git a/{path} b/{path}", "index 1111111..2222222 100644", f"--- a/{path}", f"+++ b/{path}",
                f"@@ -10,{len(IMAGES)} +10,{len(IMAGES)} @@"]
        out += [f"-      - image: registry.k8s.io/{i}" for i in IMAGES]
        out += [f"+      - image: {ref}" for ref in added]
    return "\n".join(out) + "\n"


def reviewed(diff: str) -> Analysis:
    return analyze(ChangeSet(files=parse_diff(diff.encode())))


def facts(shown: dict[str, str] | None = None) -> ReviewFacts:
    return ReviewFacts(head_sha="0" * 40, diff_source="the pull request diff", policy_source="defaults",
                       shown=shown or {})


def table_rows(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith("| :")]


def test_registry_migration_is_one_grouped_finding_in_one_row() -> None:
    # IR005 groups per pull request and registry in the engine: the table gets one row for it,
    # under the staging error, and the row's message carries the counts.
    result = reviewed(migration_diff(ADDONS, staging_in="metrics"))
    [warning] = [f for f in result.findings if f.rule == "IR005"]
    assert warning.severity == "warning" and len(warning.also) == 18
    rows = table_rows(findings_table(result.findings, {warning.fingerprint: "inline comment"}, 50))
    [staging] = [r for r in rows if "`IR001`" in r]
    [grouped] = [r for r in rows if "`IR005`" in r]
    assert rows.index(staging) < rows.index(grouped) and len(rows) == 2
    assert f"| `{addon('cache')}:10` and 18 more places |" in grouped
    assert "This pull request adds 19 references to the deprecated registry `k8s.gcr.io` in 5 files" in grouped
    assert "and 2 more files (7 references)" in grouped
    assert grouped.endswith("| inline comment |")


def test_a_few_findings_of_a_rule_keep_their_rows() -> None:
    few = [finding("IR009", "warning", n) for n in range(1, 4)]
    assert len(table_rows(findings_table(few, {}, 50))) == 3
    assert len(table_rows(findings_table([*few, finding("IR009", "warning", 4)], {}, 50))) == 1


def finding(rule: str, severity: str, line: int, path: str = "deploy/app.yaml") -> Finding:
    return Finding(rule, "rule-name", severity, path, line, f"{rule} on line {line}",  # type: ignore[arg-type]
                   f"{rule}-{severity}-{path}-{line}")


def test_errors_are_never_grouped_and_severities_group_apart() -> None:
    errors = [finding("IR001", "error", n) for n in range(1, 6)]
    warnings = [finding("IR009", "warning", n) for n in range(1, 6)]
    notices = [finding("IR009", "notice", n, "deploy/other.yaml") for n in range(1, 5)]
    groups = row_groups([*notices, *warnings, *errors])
    assert [len(g) for g in groups] == [1, 1, 1, 1, 1, 5, 4]
    assert [g[0].severity for g in groups[-2:]] == ["warning", "notice"]
    row = table_rows(findings_table(notices, {}, 50))[0]
    assert "`IR009` rule-name × 4 in 1 file |" in row  # singular


def test_row_limit_counts_the_findings_it_leaves_out() -> None:
    errors = [finding("IR001", "error", n) for n in range(1, 4)]
    warnings = [finding("IR005", "warning", n, f"deploy/{n}.yaml") for n in range(1, 41)]
    table = findings_table([*errors, *warnings], {}, 3)
    assert table.endswith("… and 40 more (see the check run's annotations).")


def test_summary_comment_and_check_run_are_grouped_and_stable() -> None:
    result = reviewed(migration_diff(ADDONS))
    body = comment_body(result, "success", facts())
    assert body == comment_body(result, "success", facts())  # an unchanged review edits nothing
    assert "### image-review: 40 image references checked: 1 warning" in body
    assert body.count("adds 20 references to the deprecated registry `k8s.gcr.io` in 5 files") == 1
    summary = check_summary(result, "success", facts())
    assert len(table_rows(summary)) == 1


def test_text_output_names_the_other_places_of_a_grouped_finding() -> None:
    from app.report.check_formats import format_text

    result = reviewed(migration_diff(["dns", "proxy"], staging_in="proxy"))
    lines = format_text(result).splitlines()
    assert not [line for line in lines if line.startswith("By rule: ")]  # no rule repeats now
    [also] = [line.strip() for line in lines if line.strip().startswith("also: ")]
    dns, proxy = addon("dns"), addon("proxy")
    assert also == f"also: {dns}:11, {dns}:12, {dns}:13, {proxy}:11, {proxy}:12, {proxy}:13"
    assert lines[-1] == "16 image references changed; 1 error, 1 warning, 0 notices."
