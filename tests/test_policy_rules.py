"""Reference rules IR001–IR009: a bad and a good case each, suggestions, scopes, settings."""

from __future__ import annotations

from datetime import date

import pytest

try:
    from tests.test_policy_scenario import parse_scenario, run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import parse_scenario, run

from app.core.models import RefChange
from app.policy import EvalContext, default_policy, evaluate, load_policy


def findings(text: str, rule: str | None = None) -> list[tuple[str, str, str, int | None]]:
    return [(f.rule, f.severity, f.path, f.line) for f in run(text).findings if rule is None or f.rule == rule]


def only(text: str, rule: str) -> list[str]:
    return [f.rule for f in run(text).findings if f.rule == rule]


# --- IR001 staging-image -----------------------------------------------------------------------


def test_staging_git_describe_in_production_no_suggestion() -> None:
    result = run("""# file: pkg/model/components/etcdmanager/model.go
@@ 180
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220127
+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83
""")
    [f] = [f for f in result.findings if f.rule == "IR001"]
    assert (f.name, f.severity, f.line) == ("staging-image", "error", 180)
    assert f.suggestion is None
    assert "Promote the build first" in f.message
    assert "registry.k8s.io/etcdadm/etcd-manager" in f.message
    # One finding per mistake: the development-build tag is named by IR001, not reported again.
    assert [x.rule for x in result.findings if x.line == 180 and x.side == "added"] == ["IR001"]
    assert result.labels == ["do-not-merge/staging-image"]


def test_staging_with_release_tag_suggests_release_reference() -> None:
    [f] = run("""# file: upup/models/cloudup/resources/addons/snapshot-controller.addons.k8s.io/k8s-1.20.yaml.template
+          image: gcr.io/k8s-staging-sig-storage/snapshot-controller:v5.0.0
""").findings
    assert f.rule == "IR001"
    assert f.suggestion == "          image: registry.k8s.io/sig-storage/snapshot-controller:v5.0.0"


def test_staging_suggestion_keeps_digest() -> None:
    digest = "sha256:" + "ab" * 32
    [f] = run(f"""# file: pkg/model/components/etcdmanager/model.go
+    image: us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-slim:v3.0.20241012@{digest}
""").findings
    assert f.suggestion == f"    image: registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20241012@{digest}"


def test_staging_unknown_mapping_says_so() -> None:
    [f] = run("""# file: pkg/a.yaml
+    image: gcr.io/k8s-staging-ci-images/kube-apiserver:v1.31.0
""").findings
    assert f.rule == "IR001" and f.suggestion is None and "no release location is known" in f.message
    assert "not a release version" not in f.message  # v1.31.0 is one: only the release location is unknown


def test_staging_with_a_build_tag_says_the_tag_is_no_release() -> None:
    [f] = run("""# file: pkg/a.yaml
+    image: gcr.io/k8s-staging-ci-images/kube-apiserver:v1.31.0-alpha.3.12_8b6b3a1f
""").findings
    assert "tag `v1.31.0-alpha.3.12_8b6b3a1f` is not a release version" in f.message


def test_staging_in_allowed_paths_is_a_summary_note_only() -> None:
    result = run("""# file: tests/e2e/templates/etcd.yaml
+    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83
# file: cloudbuild.yaml
+  - image: gcr.io/k8s-staging-test-infra/gcb-docker-gcloud:v20211008-60e346af
""")
    assert [f.rule for f in result.findings if f.rule == "IR001"] == []
    assert any("2 staging image reference(s)" in n for n in result.summary_notes)
    assert result.labels == []


def test_staging_removed_or_commented_is_not_reported() -> None:
    assert only("""# file: pkg/model/components/etcdmanager/model.go
-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83
+    # image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
""", "IR001") == []


def test_staging_partial_is_not_reported() -> None:
    ref = RefChange("cloudbuild-like.go", 3, "added", "gcr.io/k8s-staging-kops/", "gcr.io", "k8s-staging-kops",
                    None, None, "staging", "code-literal", partial=True)
    result = evaluate([ref], [], None, default_policy(), EvalContext(today=date(2026, 1, 1)))
    assert [f.rule for f in result.findings] == []


def test_repository_policy_reclassifies() -> None:
    # The extractor may have classified with the defaults; the repository's locations decide.
    ref = RefChange("deploy/app.yaml", 1, "added", "quay.io/acme-dev/tool:v1.0.0", "quay.io", "acme-dev/tool",
                    "v1.0.0", None, "other", "yaml-image")
    policy = load_policy("staging_locations: {add: [quay.io/acme-dev]}\nmappings: {quay.io/acme-dev: quay.io/acme}\n")
    result = evaluate([ref], [], None, policy, EvalContext(today=date(2026, 1, 1)))
    [f] = result.findings
    assert f.rule == "IR001" and "quay.io/acme/tool:v1.0.0" in f.message


# --- IR002 mutable-tag ------------------------------------------------------------------------------


def test_floating_tag_only_on_production_paths() -> None:
    # Tooling images (tests, e2e, CI, scripts, docs) are not released: only the shipped ones count.
    result = run("""# file: pkg/model/components/x.go
+	image := "registry.k8s.io/provider-aws/cloud-controller-manager:latest"
# file: tests/e2e/x.yaml
+    image: registry.k8s.io/kops/dns-controller:master
# file: docs/getting_started/x.md
+    image: nginx:latest
""")
    assert [(f.rule, f.severity, f.path) for f in result.findings if f.rule == "IR002"] == [
        ("IR002", "error", "pkg/model/components/x.go"),
    ]


def test_ignore_paths_still_drops_production_findings() -> None:
    text = """# policy: {rules: {mutable-tag: {ignore_paths: ["/examples"]}}}
# file: examples/nginx.yaml
+        image: nginx:latest
# file: deploy/nginx.yaml
+        image: nginx:latest
"""
    assert [p for _, _, p, _ in findings(text, "IR002")] == ["deploy/nginx.yaml"]


def test_no_tag_and_no_digest() -> None:
    [f] = run("# file: deploy/x.yaml\n+    image: registry.k8s.io/pause\n").findings
    assert f.rule == "IR002" and "no tag and no digest" in f.message


def test_digest_only_is_fine() -> None:
    assert run("# file: deploy/x.yaml\n+    image: registry.k8s.io/pause@sha256:" + "a" * 64 + "\n").findings == []


def test_templated_tag_is_not_judged() -> None:
    ref = RefChange("pkg/x.yaml.template", 1, "added", "quay.io/cilium/cilium:{{ .Version }}", "quay.io",
                    "cilium/cilium", None, None, "other", "yaml-image", templated=True)
    result = evaluate([ref], [], None, default_policy(), EvalContext(today=date(2026, 1, 1)))
    assert result.findings == []


def test_generated_paths_are_not_judged() -> None:
    assert findings("""# file: tests/integration/update_cluster/minimal/data/aws_s3_object_x_content
+    image: registry.k8s.io/provider-aws/cloud-controller-manager:latest
""") == []


def test_severity_and_outside_production_settings() -> None:
    text = """# policy: {rules: {mutable-tag: {severity: warning, outside_production: "off"}}}
# file: pkg/x.yaml
+    image: registry.k8s.io/x/y:latest
# file: tests/x.yaml
+    image: registry.k8s.io/x/y:latest
"""
    assert [(r, s, p) for r, s, p, _ in findings(text, "IR002")] == [("IR002", "warning", "pkg/x.yaml")]


def test_disabled_rule() -> None:
    assert findings("# policy: {rules: {IR002: false}}\n# file: pkg/x.yaml\n+    image: a.io/b/c:latest\n") == []


# --- IR003 / IR004 --------------------------------------------------------------------------------------


def test_development_build_production_only() -> None:
    text = """# file: pkg/x.yaml
+    image: registry.k8s.io/kops/dns-controller:v1.24.0-27-g1477d6e
# file: hack/x.sh
+    --image=registry.k8s.io/kops/dns-controller:v1.24.0-27-g1477d6e
"""
    assert [(r, s, p) for r, s, p, _ in findings(text, "IR003")] == [("IR003", "error", "pkg/x.yaml")]
    assert only("# file: pkg/x.yaml\n+    image: registry.k8s.io/kops/dns-controller:v1.24.1\n", "IR003") == []


@pytest.mark.parametrize(
    "reference",
    [
        "docker.io/kindest/kindnetd:v20241212-9f82dd49",  # kind releases its own images so
        "kindest/base:v20251218-6a464d15",  # Docker Hub without the registry written
        "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0",  # promoted, tag kept
        "quay.io/example/builder:20240105-0a1b2c3d4e5f",  # without the leading v
    ],
)
def test_dated_build_id_outside_staging_is_a_release(reference: str) -> None:
    text = f'# file: pkg/build/nodeimage/defaults.go\n+const image = "{reference}"\n'
    assert only(text, "IR003") == []
    # The tag keeps its kind: only what IR003 judges changed.
    assert default_policy().tag_rules.kind(reference.rsplit(":", 1)[1]) == "build-id"


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("v1.24.0-27-g1477d6e", "git-describe"),
        ("v1.24.0-dirty", "git-describe"),
        ("v20241212-9f82dd49-dirty", "git-describe"),
        ("sha-9f82dd49", "build-id"),
        ("pr-4127", "build-id"),
        ("v1.36.0-dev", "build-id"),
        ("v2.1.0-snapshot", "build-id"),
        ("v1.31.0-nightly.20241212", "build-id"),
        ("v0.9.0-ci", "build-id"),
        ("v1.31.0-alpha.0.123_abcdef012345", "build-id"),
        ("9f82dd49", "git-sha"),
    ],
)
def test_other_development_builds_still_fire_outside_staging(tag: str, kind: str) -> None:
    text = f'# file: pkg/build/nodeimage/defaults.go\n+const image = "docker.io/kindest/base:{tag}"\n'
    [f] = run(text).findings
    assert (f.rule, f.severity) == ("IR003", "error")
    assert f"`{tag}`, {kind}" in f.message


def test_dated_build_id_on_a_staging_image_is_a_development_build() -> None:
    line = "+    image: gcr.io/k8s-staging-ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0\n"
    # IR001 names the staging build; with IR001 off, IR003 judges the staging tag.
    assert [f.rule for f in run("# file: charts/x/values.yaml\n" + line).findings] == ["IR001"]
    off = run("# policy: {rules: {staging-image: false}}\n# file: charts/x/values.yaml\n" + line)
    assert [(f.rule, f.severity) for f in off.findings] == [("IR003", "error")]


def test_a_prerelease_the_commit_subject_names_is_an_announced_choice() -> None:
    line = '# file: pkg/x.go\n+\timage := "registry.k8s.io/gateway-api/admission-server:v0.7.0-rc1"\n'
    assert only("# commit: Bumping webhook version to v0.7.0-rc1\n" + line, "IR004") == []
    assert [f[0] for f in findings("# commit: Bump the webhook\n" + line, "IR004")] == ["IR004"]


def test_prerelease_warning() -> None:
    assert findings("# file: pkg/x.go\n+\timage := \"registry.k8s.io/kube-apiserver:v1.31.0-rc.1\"\n", "IR004") == [
        ("IR004", "warning", "pkg/x.go", 1)
    ]
    assert only("# file: test/x.go\n+\timage := \"registry.k8s.io/kube-apiserver:v1.31.0-rc.1\"\n", "IR004") == []


# --- IR005 / IR006 / IR007 ---------------------------------------------------------------------------------


def test_deprecated_registry_suggestion() -> None:
    [f] = run("# file: addons/x.yaml\n+        image: k8s.gcr.io/pause:3.1\n").findings
    assert f.rule == "IR005" and f.severity == "warning"
    assert f.suggestion == "        image: registry.k8s.io/pause:3.1"


def test_google_containers_maps_to_registry_root() -> None:
    [f] = run("# file: addons/x.yaml\n+        image: gcr.io/google_containers/pause-amd64:3.0\n").findings
    assert f.rule == "IR005" and f.suggestion == "        image: registry.k8s.io/pause-amd64:3.0"


def test_deprecated_partial_prefix() -> None:
    ref = RefChange("pkg/assets/builder.go", 7, "added", "k8s.gcr.io/", "k8s.gcr.io", None, None, None,
                    "release", "code-literal", partial=True)
    scenario = parse_scenario('# file: pkg/assets/builder.go\n@@ 7\n+\tprefix := "k8s.gcr.io/"\n')
    result = evaluate([ref], scenario.files, None, default_policy(), EvalContext(today=date(2026, 1, 1)))
    [f] = result.findings
    assert f.rule == "IR005" and f.suggestion == '\tprefix := "registry.k8s.io/"'


def test_disallowed_registry() -> None:
    text = "# policy: {disallowed_registries: [docker.io]}\n# file: tests/Dockerfile\n+FROM python:3.12\n"
    [f] = run(text).findings
    assert (f.rule, f.severity) == ("IR006", "error")
    assert only("# policy: {disallowed_registries: [docker.io]}\n# file: a/Dockerfile\n+FROM quay.io/a/b:1\n",
                "IR006") == []


def test_digest_required_only_when_enabled() -> None:
    text = "# file: deploy/x.yaml\n+    image: registry.k8s.io/pause:3.9\n"
    assert only(text, "IR007") == []
    assert only("# policy: {require_digest: true}\n" + text, "IR007") == ["IR007"]
    assert only("# policy: {require_digest: true}\n# file: test/x.yaml\n+    image: registry.k8s.io/pause:3.9\n",
                "IR007") == []


# --- IR008 / IR009 ---------------------------------------------------------------------------------------------


def test_inconsistent_versions_across_staging_and_release() -> None:
    text = """# policy: {rules: {staging-image: false}}
# file: pkg/a.yaml
+    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83
+    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
"""
    [f] = [f for f in run(text).findings if f.rule == "IR008"]
    assert (f.path, f.line) == ("pkg/a.yaml", 1)  # the older one is the odd one out
    assert "registry.k8s.io/etcdadm/etcd-manager" in f.message


def test_inconsistent_versions_test_paths_not_reported() -> None:
    text = """# file: tests/a.yaml
+    image: registry.k8s.io/pause:3.1
# file: tests/b.yaml
+    image: registry.k8s.io/pause:3.9
"""
    assert only(text, "IR008") == []


def test_version_downgrade_names_both_versions() -> None:
    [f] = [f for f in run("""# file: pkg/a.go
-	image = "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203"
+	image = "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83"
""").findings if f.rule == "IR009"]
    assert "v3.0.20220203" in f.message and "v3.0.20220128-22-g9ef09c83" in f.message


def test_version_upgrade_and_flavour_change_are_fine() -> None:
    assert only("""# file: images/Dockerfile
-FROM golang:1.24.1-bookworm
+FROM golang:1.23.5-alpine
""", "IR009") == []
    assert only("""# file: pkg/a.go
-	image = "registry.k8s.io/pause:3.1"
+	image = "registry.k8s.io/pause:3.9"
""", "IR009") == []


def test_a_tag_that_follows_a_release_line_is_no_downgrade() -> None:
    # golang:1.25-trixie follows the newest 1.25.x: less pinned than 1.25.1-trixie, not older.
    assert only("""# file: images/Dockerfile
-FROM golang:1.25.1-trixie AS builder
+FROM golang:1.25-trixie AS builder
""", "IR009") == []
    [f] = [f for f in run("""# file: images/Dockerfile
-FROM golang:1.25.1-trixie AS builder
+FROM golang:1.24-trixie AS builder
""").findings if f.rule == "IR009"]
    assert "goes back from `1.25.1-trixie` to `1.24-trixie`" in f.message


# --- fingerprints ----------------------------------------------------------------------------------


def test_fingerprint_is_stable_when_lines_move() -> None:
    first = run("# file: pkg/a.yaml\n+    image: registry.k8s.io/x/y:latest\n").findings[0]
    moved = run("# file: pkg/a.yaml\n@@ 40\n+\n+    image: registry.k8s.io/x/y:latest\n").findings[0]
    assert first.line != moved.line
    assert first.fingerprint == moved.fingerprint
    other = run("# file: pkg/b.yaml\n+    image: registry.k8s.io/x/y:latest\n").findings[0]
    assert other.fingerprint != first.fingerprint


def test_repeated_reference_in_one_file_gets_distinct_fingerprints() -> None:
    result = run("# file: pkg/a.yaml\n+    image: registry.k8s.io/x/y:latest\n+    image: registry.k8s.io/x/y:latest\n")
    prints = [f.fingerprint for f in result.findings if f.rule == "IR002"]
    assert len(prints) == 2 and len(set(prints)) == 2


# --- what the pull request chose, and what is pulled ----------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        '+\trepo, err := name.NewRepository("registry.k8s.io/kube-apiserver")',
        '+\timage := "registry.k8s.io/kube-apiserver"',
        "+REGISTRY ?= gcr.io/k8s-staging-kops/latest",
        "+export KO_DOCKER_REPO=gcr.io/k8s-staging-kops/kops-controller:latest",
        "+  imageRepository: registry.k8s.io/kube-apiserver",
        "+\tdocker push registry.k8s.io/kops/kops-controller:latest",
    ],
)
def test_repositories_that_are_not_pulled_do_not_pull_latest(line: str) -> None:
    result = run("# file: pkg/assets/builder.go\n" + line + "\n")
    assert [f.rule for f in result.findings if f.rule == "IR002"] == []


@pytest.mark.parametrize(
    "line",
    [
        "+    image: registry.k8s.io/pause",
        "+        image: registry.k8s.io/autoscaling/cluster-autoscaler:latest",
        "+FROM registry.k8s.io/build-image/debian-base",
        '+docker run --rm "registry.k8s.io/kops/dns-controller:latest"',
    ],
)
def test_pulled_references_still_pull_latest(line: str) -> None:
    path = "images/Dockerfile" if "FROM" in line else "deploy/x.yaml"
    result = run(f"# file: {path}\n{line}\n")
    assert [f.rule for f in result.findings] == ["IR002"]


def test_registry_rename_keeps_tags_it_did_not_choose() -> None:
    # k8s.gcr.io -> registry.k8s.io: the floating and pre-release tags were there before.
    text = """# file: pkg/model/components/clusterautoscaler.go
-        image: k8s.gcr.io/autoscaling/cluster-autoscaler:latest
+        image: registry.k8s.io/autoscaling/cluster-autoscaler:latest
-        image: k8s.gcr.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0
+        image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0
"""
    assert [f.rule for f in run(text).findings] == []


def test_a_tag_the_pull_request_changes_is_judged() -> None:
    text = """# file: pkg/model/components/awscloudcontrollermanager.go
-        image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.22.0
+        image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0
"""
    assert [f.rule for f in run(text).findings] == ["IR004"]


def test_deprecated_registry_still_helps_on_a_rename_back() -> None:
    text = """# file: deploy/x.yaml
-        image: registry.k8s.io/pause:3.9
+        image: k8s.gcr.io/pause:3.9
"""
    assert [f.rule for f in run(text).findings] == ["IR005"]


# --- IR008 within one deployable unit ---------------------------------------------------------------


def test_one_file_per_version_is_an_intended_spread() -> None:
    text = """# file: addons/kubernetes-dashboard/v1.7.1.yaml (new)
+        image: registry.k8s.io/kubernetes-dashboard-amd64:v1.7.1
# file: addons/kubernetes-dashboard/v1.8.0.yaml (new)
+        image: registry.k8s.io/kubernetes-dashboard-amd64:v1.8.0
"""
    assert [f.rule for f in run(text).findings] == []


def test_per_version_switch_in_code_is_an_intended_spread() -> None:
    text = """# file: pkg/model/components/awscloudcontrollermanager.go
+        case 23:
+            image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.2
+        case 24:
+            image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.1
"""
    assert [f.rule for f in run(text).findings if f.rule == "IR008"] == []


def test_two_versions_in_one_manifest_name_the_image_as_written() -> None:
    text = """# file: deploy/etcd.yaml
+      - image: k8s.gcr.io/etcdadm/etcd-manager:v3.0.20220203
+      - image: k8s.gcr.io/etcdadm/etcd-manager:v3.0.20220128
"""
    [f] = [f for f in run(text).findings if f.rule == "IR008"]
    assert (f.path, f.line) == ("deploy/etcd.yaml", 2)
    assert "`k8s.gcr.io/etcdadm/etcd-manager` is added at 2 versions in `deploy/etcd.yaml`" in f.message
    assert "registry.k8s.io" not in f.message  # never name an image the diff does not contain
