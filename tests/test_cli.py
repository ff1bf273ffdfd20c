"""The command line: inputs, output formats, exit codes and messages, on real git repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from gitrepo import commit, git, init_repo

from app.cli import main

SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428"
RELEASE = "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203"
MODEL = "pkg/model/components/etcdmanager/model.go"


def model(image: str) -> str:
    return f'package etcdmanager\n\nconst manifest = `\nspec:\n  containers:\n  - image: {image}\n    name: etcd\n`\n'


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    commit(root, {MODEL: model(RELEASE), "README.md": "kops\n"}, "base")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_git_range_reports_each_commit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sha = commit(repo, {MODEL: model(STAGING)}, "Use etcd-manager pre-release")
    code, out, _ = run(capsys, "scan", "--git", "main~1..main", "--repo", str(repo), "--format", "json")
    refs = json.loads(out)["references"]
    assert code == 0
    assert {(r["side"], r["reference"], r["class"], r["line"], r["commit"]) for r in refs} == {
        ("added", STAGING, "staging", 6, sha),
        ("removed", RELEASE, "release", 6, sha),
    }
    assert all(r["in_place"] and not r["partial"] and not r["templated"] for r in refs)


def test_scan_text_groups_by_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model(STAGING)}, "switch")
    code, out, _ = run(capsys, "scan", "--git", "main~1", "--repo", str(repo))
    assert code == 0
    assert out.splitlines()[0] == MODEL
    assert f"+ {MODEL}:6  {STAGING}  staging" in out
    assert out.rstrip().endswith("2 references: 1 added, 1 removed.")


def test_check_fails_on_staging_image_with_message_and_exit_1(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model(STAGING)}, "Use etcd-manager pre-release")
    code, out, _ = run(capsys, "check", "--git", "main~1..main", "--repo", str(repo), "--format", "json")
    data = json.loads(out)
    assert code == 1
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    assert [(f["rule"], f["name"], f["path"], f["line"]) for f in errors] == [("IR001", "staging-image", MODEL, 6)]
    assert errors[0]["suggestion"] == "  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428"
    assert data["change_pattern"] == "single-commit"
    assert [c["kind"] for c in data["commits"]] == ["image-switch"]


def test_check_fail_on_levels(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model("k8s.gcr.io/etcdadm/etcd-manager:v3.0.20220203")}, "legacy registry")
    args = ("check", "--git", "main~1", "--repo", str(repo))
    assert run(capsys, *args)[0] == 0  # IR005 deprecated-registry is a warning
    assert run(capsys, *args, "--fail-on", "warning")[0] == 1
    assert run(capsys, *args, "--fail-on", "never")[0] == 0


def test_two_step_pattern_from_git(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model(STAGING)}, "pre-release")
    commit(repo, {MODEL: model(RELEASE.replace("20220203", "20220503"))}, "Update to etcd-manager v3.0.20220503")
    golden = "tests/integration/update_cluster/minimal/data/aws_s3_object_manifests-etcdmanager-main_content"
    commit(repo, {golden: "    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503\n"}, "Update expected output")
    code, out, _ = run(capsys, "check", "--git", "main~2..main", "--repo", str(repo), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["change_pattern"] == "image-only-first"
    assert [c["kind"] for c in data["commits"]] == ["image-switch", "regenerated"]


def test_policy_comes_from_the_base_of_the_range(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The head relaxes the policy in the same change that adds a staging image: the base still judges.
    relaxed = "rules:\n  staging-image:\n    enabled: false\n"
    commit(repo, {MODEL: model(STAGING), ".github/image-review.yml": relaxed}, "sneaky")
    code, out, _ = run(capsys, "check", "--git", "main~1", "--repo", str(repo), "--format", "json")
    assert code == 1
    assert "IR001" in {f["rule"] for f in json.loads(out)["findings"]}


def test_bad_policy_file_exits_2_naming_key_and_line(repo: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("staging_locations:\n  - gcr.io/k8s-staging-*\nrequire_digets: true\n")
    commit(repo, {MODEL: model(STAGING)}, "x")
    code, out, err = run(capsys, "check", "--git", "main~1", "--repo", str(repo), "--config", str(policy))
    assert code == 2 and out == ""
    assert "policy.yml:3: require_digets: unknown key; did you mean 'require_digest'?" in err
    assert "Traceback" not in err


def test_sarif_output_is_schema_valid(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model(STAGING)}, "x")
    code, out, _ = run(capsys, "check", "--git", "main~1", "--repo", str(repo), "--format", "sarif")
    sarif = json.loads(out)
    jsonschema.validate(sarif, json.loads(SCHEMA.read_text()))
    result = sarif["runs"][0]["results"][0]
    assert code == 1 and result["ruleId"] == "IR001" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 6


def test_github_workflow_commands(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {MODEL: model(STAGING)}, "x")
    _, out, _ = run(capsys, "check", "--git", "main~1", "--repo", str(repo), "--format", "github")
    first = out.splitlines()[0]
    assert first.startswith(f"::error file={MODEL},line=6,title=IR001 staging-image::")
    assert "%0ASuggestion: - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428" in first


def test_patches_input_uses_the_net_change(tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Staging added by one commit and removed by the next: the PR ships none, but the commit is noticed.
    commit(repo, {MODEL: model(STAGING)}, "pre-release")
    commit(repo, {MODEL: model(RELEASE.replace("20220203", "20220503"))}, "release")
    mbox = tmp_path / "pr.mbox"
    mbox.write_text(git(repo, "format-patch", "--stdout", "main~2..main"))
    code, out, _ = run(capsys, "check", "--patches", str(mbox), "--format", "json")
    findings = json.loads(out)["findings"]
    assert code == 0
    assert [f["rule"] for f in findings if f["severity"] == "error"] == []
    assert "IR017" in {f["rule"] for f in findings}


def test_a_staging_image_still_shipped_is_not_also_staging_in_history(
        tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One staging build replaced by a newer staging build: IR001 on what ships, and no IR017 claiming
    # that the pull request ships no staging image.
    commit(repo, {MODEL: model(STAGING)}, "try a staging build")
    commit(repo, {MODEL: model(STAGING.replace("20220428", "20220503"))}, "try the next staging build")
    mbox = tmp_path / "pr.mbox"
    mbox.write_text(git(repo, "format-patch", "--stdout", "main~2..main"))
    _, out, _ = run(capsys, "check", "--patches", str(mbox), "--format", "json")
    rules = [f["rule"] for f in json.loads(out)["findings"]]
    assert "IR001" in rules and "IR017" not in rules


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["scan", "--diff", "/no/such/file"], "cannot read /no/such/file"),
        (["scan", "--git", "nope..main"], "bad range 'nope..main'"),
        (["check", "--diff", "README.md"], "not a unified diff"),
        (["scan", "--patches", "README.md"], "README.md"),
        (["audit", "--ref", "nope"], "bad ref 'nope'"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv: list[str], needle: str, repo: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "app.cli", "scan", "--diff", "a", "--git", "b"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


def test_diff_from_stdin(repo: Path) -> None:
    commit(repo, {MODEL: model(STAGING)}, "x")
    diff = git(repo, "diff", "main~1", "main")
    proc = subprocess.run([sys.executable, "-m", "app.cli", "scan", "--diff", "-", "--format", "json"],
                          input=diff, capture_output=True, text=True, check=True)
    assert {r["reference"] for r in json.loads(proc.stdout)["references"]} == {STAGING, RELEASE}


def test_audit_lists_staging_and_exemptions_by_urgency(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {
        MODEL: model(STAGING),
        "deploy/a.yaml": "# image-review: allow staging-image until 2026-01-01 tracked-by #12\n"
                         "image: gcr.io/k8s-staging-foo/a:v1\n",
        "deploy/b.yaml": "# image-review: allow staging-image until 2027-01-01 tracked-by #13\n"
                         "image: gcr.io/k8s-staging-foo/b:v1\n",
        "tests/e2e/c.yaml": "image: gcr.io/k8s-staging-foo/c:v1\n",
    }, "tree")
    code, out, _ = run(capsys, "audit", "--repo", str(repo), "--format", "json", "--today", "2026-11-26",
                       "--fail-on-urgent")
    items = json.loads(out)["items"]
    assert code == 1
    assert [(i["status"], i["path"]) for i in items] == [
        ("exemption expired", "deploy/a.yaml"),
        ("staging image in production", "deploy/a.yaml"),
        ("staging image in production", MODEL),
        ("staging image, exempted", "deploy/b.yaml"),
        ("staging image, allowed path", "tests/e2e/c.yaml"),
        ("exemption", "deploy/b.yaml"),
    ]


def test_pre_commit_hook_and_action_run_the_check_command() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"image-review", "image-review-range"}
    assert all("image-review check" in h["entry"] for h in hooks)
    action = yaml.safe_load((root / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    script = action["runs"]["steps"][-1]["run"]
    assert "check --git" in script and "--format github" in script


def test_the_light_option_module_agrees_with_the_commands() -> None:
    # app.cli.common repeats two facts so that building the parser imports nothing heavy.
    from app.cli import common as cli_check
    from app.policy import POLICY_PATH
    from app.report.check_formats import FORMATTERS

    assert cli_check.POLICY_PATH == POLICY_PATH
    assert set(cli_check.FORMATS) == set(FORMATTERS)


def test_check_and_audit_agree_on_a_policy_exemption_for_a_directory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `path: "deploy"` names a directory: it covers deploy/etcd.yaml for check, and so for audit.
    policy = (
        "exemptions:\n"
        "  - rule: staging-image\n    path: deploy\n    issue: 21\n    expires: 2027-01-01\n"
        "  - rule: mutable-tag\n    path: 'jobs/**'\n    issue: 22\n    expires: 2027-01-01\n"
    )
    commit(repo, {".github/image-review.yml": policy}, "policy")
    commit(repo, {
        "deploy/etcd.yaml": f"image: {STAGING}\n",
        "jobs/etcd.yaml": f"image: {STAGING}\n",  # an exemption for another rule covers nothing here
    }, "staging images")
    code, out, _ = run(capsys, "check", "--git", "main~1", "--repo", str(repo), "--format", "json")
    findings = {f["path"]: f for f in json.loads(out)["findings"] if f["rule"] == "IR001"}
    assert findings["deploy/etcd.yaml"]["severity"] == "notice"  # accepted by check
    assert findings["jobs/etcd.yaml"]["severity"] == "error"
    assert code == 1

    code, out, _ = run(capsys, "audit", "--repo", str(repo), "--format", "json", "--today", "2026-11-26",
                       "--fail-on-urgent")
    status = {i["path"]: i["status"] for i in json.loads(out)["items"] if i["subject"] == STAGING}
    assert status == {
        "deploy/etcd.yaml": "staging image, exempted",
        "jobs/etcd.yaml": "staging image in production",
    }
    assert code == 1  # for jobs/etcd.yaml only
