"""The engine: change control, policy changes, central settings, labels, the Analysis hand-off."""

from __future__ import annotations

from datetime import date

try:
    from tests.test_policy_scenario import parse_scenario, run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import parse_scenario, run

from app.core.models import Analysis, RefChange
from app.policy import (
    ALL_RULES,
    Approval,
    EvalContext,
    default_policy,
    evaluate,
    fingerprint,
    is_action_required,
    load_policy,
    rules_meta,
)
from app.policy.catalog import BY_NAME

CRITICAL = '# policy: {critical_images: {"etcd-manager*": ["@kubernetes/etcd-owners", "hakman"]}}\n'
BUMP = """# file: pkg/model/components/etcdmanager/model.go
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209
"""


# --- registry ------------------------------------------------------------------------------------


def test_rule_codes_and_names_are_unique_and_stable() -> None:
    codes = [r.code for r in ALL_RULES]
    assert codes == [f"IR{i:03d}" for i in range(1, len(codes) + 1)]
    assert len({r.name for r in ALL_RULES}) == len(ALL_RULES)
    assert BY_NAME["staging-image"].code == "IR001"
    assert rules_meta() == ALL_RULES
    assert [r.code for r in ALL_RULES if r.action_required] == ["IR014"]


# --- change control ----------------------------------------------------------------------------------


def test_critical_image_without_owner_approval() -> None:
    result = run(CRITICAL + "# approvals: none\n" + BUMP)
    [f] = result.findings
    assert (f.rule, f.name, f.severity) == ("IR014", "critical-image-approval", "error")
    assert "@kubernetes/etcd-owners, @hakman" in f.message
    assert result.action_required and is_action_required(f)


def test_critical_image_approved_by_user_or_team_on_head() -> None:
    assert run(CRITICAL + "# approved-by: hakman\n" + BUMP).findings == []
    team = run(CRITICAL + "# approved-by: someone teams kubernetes/etcd-owners\n" + BUMP)
    assert team.findings == [] and not team.action_required
    assert any("approved by @someone" in n for n in team.summary_notes)


def test_critical_image_approval_of_an_older_commit_does_not_count() -> None:
    result = run(CRITICAL + "# approved-by: hakman at old1234\n" + BUMP)
    [f] = result.findings
    assert f.rule == "IR014" and "older commit" in f.message and "@hakman" in f.message
    assert result.action_required


def test_critical_image_matches_staging_by_identity_and_removals() -> None:
    staging = """# file: tests/e2e/x.yaml
-    image: us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-static:latest
"""
    policy = '# policy: {critical_images: {"registry.k8s.io/etcd-manager": ["alice"]}}\n# approvals: none\n'
    [f] = run(policy + staging).findings
    assert f.rule == "IR014" and f.side == "removed"


def test_critical_image_without_review_data_is_a_notice() -> None:
    result = run(CRITICAL + BUMP)  # approvals unknown (the CLI)
    [f] = result.findings
    assert (f.rule, f.severity) == ("IR014", "notice") and "not checked" in f.message
    assert not result.action_required


def test_critical_image_cannot_be_disabled_by_exemption() -> None:
    allow = "+    # image-review: allow critical-image-approval until 2026-12-31 tracked-by #1\n"
    text = CRITICAL + "# approvals: none\n" + BUMP.replace("+    - image", allow + "+    - image")
    assert {f.rule for f in run(text).findings} == {"IR012", "IR014"}


def test_no_critical_images_no_finding() -> None:
    assert run("# approvals: none\n" + BUMP).findings == []


# --- policy changes -------------------------------------------------------------------------------------


def test_policy_weakening_is_a_notice_for_the_owners() -> None:
    text = """# file: .github/image-review.yml
 version: 1
 policy_owners: ["@kubernetes/kops-maintainers"]
+staging_allowed_paths: {add: [/pkg/experimental]}
+exemptions:
+  - {rule: staging-image, path: 'pkg/**', issue: 5, expires: 2026-06-30}
 rules:
-  IR004: warning
+  IR004: false
"""
    result = run(text)
    weak = [f for f in result.findings if f.rule == "IR015"]
    assert [(f.severity, f.path, f.line) for f in weak] == [
        ("notice", ".github/image-review.yml", 3),
        ("notice", ".github/image-review.yml", 4),
        ("notice", ".github/image-review.yml", 6),
    ]
    assert all(f.message.startswith("@kubernetes/kops-maintainers:") for f in weak)
    [note] = [n for n in result.summary_notes if "Image policy changes" in n]
    assert "`staging_allowed_paths`: added `/pkg/experimental` — **weakens the checks**" in note
    assert "disabled — **weakens the checks**" in note
    assert "`exemptions`: added IR001" in note


def test_policy_strengthening_is_only_a_summary() -> None:
    text = "# file: .github/image-review.yml\n version: 1\n+require_digest: true\n+mutable_tags: {add: [release-*]}\n"
    result = run(text)
    assert result.findings == []
    assert any("`require_digest`: False → True" in n and "release-*" in n for n in result.summary_notes)


def test_removing_a_staging_location_weakens() -> None:
    text = "# file: .github/image-review.yml\n version: 1\n+staging_locations: {remove: [gcr.io/k8s-testimages]}\n"
    [f] = run(text).findings
    assert f.rule == "IR015" and "gcr.io/k8s-testimages" in f.message


def test_invalid_new_policy_is_reported_on_its_lines() -> None:
    text = "# file: .github/image-review.yml (new)\n+version: 1\n+rules:\n+  IR001: {severity: fatal}\n"
    result = run(text)
    [f] = result.findings
    assert (f.rule, f.path, f.line) == ("IR016", ".github/image-review.yml", 3)
    assert "rules.IR001.severity" in f.message


def test_invalid_base_policy_is_reported() -> None:
    policy = load_policy("bogus: 1\n")
    s = parse_scenario(BUMP, base_policy=policy)
    result = evaluate(s.refs, s.files, None, policy, EvalContext(today=date(2026, 1, 1)))
    [f] = result.findings
    assert (f.rule, f.severity, f.line) == ("IR016", "error", 1) and "unknown key" in f.message


def test_policy_change_without_texts_is_a_note() -> None:
    s = parse_scenario("# file: .github/image-review.yml\n version: 1\n+require_digest: true\n")
    ctx = EvalContext(today=date(2026, 1, 1))
    result = evaluate(s.refs, s.files, None, default_policy(), ctx)
    assert any("was not computed" in n for n in result.summary_notes)


# --- central settings, labels, hand-off ------------------------------------------------------------------------------


def test_error_label_when_configured() -> None:
    result = run("# policy: {labels: {error: needs-fix}}\n# file: pkg/x.yaml\n+  image: registry.k8s.io/x/y:latest\n")
    assert result.labels == ["needs-fix"]


def test_ignore_paths_setting() -> None:
    text = (
        "# policy: {rules: {IR002: {ignore_paths: ['/pkg/legacy']}}}\n"
        "# file: pkg/legacy/x.yaml\n+  image: a.io/b:latest\n"
    )
    assert run(text).findings == []


def test_fingerprint_recipe() -> None:
    [f] = run("# file: pkg/x.yaml\n+  image: registry.k8s.io/x/y:latest\n").findings
    assert f.fingerprint == fingerprint("IR002", "pkg/x.yaml", "registry.k8s.io/x/y:latest", "added")


def test_to_analysis() -> None:
    s = parse_scenario("# file: pkg/x.yaml\n+  image: registry.k8s.io/x/y:latest\n")
    result = s.run()
    analysis = result.to_analysis(s.refs, not_analysed=["big.bin: binary"], files_analysed=1)
    assert isinstance(analysis, Analysis)
    assert analysis.findings == result.findings and analysis.change_pattern == "single-commit"
    assert analysis.worst_severity() == "error" and analysis.not_analysed == ["big.bin: binary"]


def test_evaluate_is_pure_and_deterministic() -> None:
    s = parse_scenario(CRITICAL + "# approvals: none\n" + BUMP)
    first = s.run()
    second = s.run()
    assert first.findings == second.findings


def test_approval_dataclass_is_simple() -> None:
    a = Approval("alice", "abc", ("org/team",))
    assert (a.login, a.commit_id, a.teams) == ("alice", "abc", ("org/team",))


def test_extractor_class_is_ignored_in_favour_of_policy() -> None:
    ref = RefChange("pkg/x.yaml", 1, "added", "gcr.io/k8s-staging-x/y:v1.0.0", "gcr.io", "k8s-staging-x/y",
                    "v1.0.0", None, "other", "yaml-image")
    result = evaluate([ref], [], None, default_policy(), EvalContext(today=date(2026, 1, 1)))
    assert [f.rule for f in result.findings] == ["IR001"]
