"""Which image switches the two-step rules judge: the policy's ``two_step`` scope (staging, all, off)."""

from __future__ import annotations

import pytest

try:
    from tests.test_policy_scenario import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run

from app.analysis.analyze import ChangeSet, analyze
from app.core.diffs import parse_diff
from app.policy import Evaluation, load_policy
from app.policy.policy_diff import diff_policies

MODEL = "pkg/model/components/etcdmanager/model.go"
ETCD = """# file: pkg/model/components/etcd.go
-\tDefaultEtcd3Version_1_22 = "3.5.3"
+\tDefaultEtcd3Version_1_22 = "3.5.4"
"""
STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager"
RELEASE = "registry.k8s.io/etcdadm/etcd-manager"


def switch(old: str, new: str) -> str:
    return f"# file: {MODEL}\n-    - image: {old}\n+    - image: {new}\n"


TO_RELEASE = switch(f"{STAGING}:v3.0.20220203", f"{RELEASE}:v3.0.20220203")
TO_STAGING = switch(f"{RELEASE}:v3.0.20220128", f"{STAGING}:v3.0.20220203-4-g1a2b3c4")
STAGING_BUMP = switch(f"{STAGING}:v3.0.20220128-9-gabcdef0", f"{STAGING}:v3.0.20220203-4-g1a2b3c4")
RELEASE_BUMP = switch(f"{RELEASE}:v3.0.20220128", f"{RELEASE}:v3.0.20220203")

# A Helm chart release: the controller image bump with the chart's template change.
HELM_RELEASE = """# file: charts/ingress-nginx/values.yaml
-    image: registry.k8s.io/ingress-nginx/controller:v1.14.2
+    image: registry.k8s.io/ingress-nginx/controller:v1.14.3
# file: charts/ingress-nginx/templates/controller-deployment.yaml
-      terminationGracePeriodSeconds: 300
+      terminationGracePeriodSeconds: 600
"""
# A builder image bump with the lint configuration it needs.
GO_BUMP = """# file: Dockerfile
-FROM docker.io/library/golang:1.26.1 AS builder
+FROM docker.io/library/golang:1.26.2 AS builder
# file: hack/tools/go.mod
-go 1.26.1
+go 1.26.2
# file: .golangci.yml
-  go: "1.25"
+  go: "1.26"
+  timeout: 10m
"""


def with_policy(policy: str | None, text: str) -> Evaluation:
    return run((f"# policy: {policy}\n" if policy else "") + text)


def rules(result: Evaluation, *codes: str) -> list[str]:
    return [f.rule for f in result.findings if f.rule in codes]


def mixed(policy: str | None, change: str) -> Evaluation:
    return with_policy(policy, "# commit: Switch etcd-manager and update etcd\n" + change + ETCD)


def ordered(policy: str | None, change: str) -> Evaluation:
    return with_policy(policy, "# commit: Update etcd\n" + ETCD + "# commit: Switch etcd-manager\n" + change)


# --- IR010 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [TO_RELEASE, TO_STAGING, STAGING_BUMP], ids=["to-release", "to-staging", "staging"])
def test_staging_switch_mixed_with_other_lines_is_reported_by_default(change: str) -> None:
    result = mixed(None, change)
    [f] = [f for f in result.findings if f.rule == "IR010"]
    assert (f.path, f.line) == (MODEL, 1)
    assert "1 other line in 1 file: pkg/model/components/etcd.go (1 line)" in f.message
    assert result.change_pattern == "mixed"
    assert not any("not judged" in n for n in result.summary_notes)


def test_a_staging_image_added_beside_the_others_switches_nothing() -> None:
    """A new build variant from staging, with the Makefile line that builds it: IR001 says what ships,
    and nothing was switched that a separate commit could isolate."""
    variant = """# commit: Add a build for Windows ltsc2025
# file: deploy/windows/base-images.yaml
     - image: gcr.io/k8s-staging-e2e-test-images/windows-servercore-cache:1.0-linux-amd64-ltsc2022
+    - image: gcr.io/k8s-staging-e2e-test-images/windows-servercore-cache:1.0-linux-amd64-ltsc2025
# file: Makefile
-ALL_OSVERSIONS.windows := 1809 ltsc2022
+ALL_OSVERSIONS.windows := 1809 ltsc2022 ltsc2025
"""
    result = with_policy(None, variant)
    assert rules(result, "IR001", "IR010", "IR011") == ["IR001"]
    assert rules(with_policy("two_step: all", variant), "IR010") == ["IR010"]  # kops: every switch, as before


def test_a_helm_repository_kept_in_the_tree_is_generated_output() -> None:
    """`helm package` and `helm repo index` rewrite the archive and the index beside the switch."""
    switch_back = """# commit: Use the canary image on the main branch
# file: charts/latest/csi-driver-nfs/values.yaml
-    image: registry.k8s.io/sig-storage/nfsplugin:v4.13.0
+    image: gcr.io/k8s-staging-sig-storage/nfsplugin:canary
# file: charts/index.yaml
-    created: "2025-10-01T10:00:00Z"
+    created: "2025-10-02T09:00:00Z"
-    digest: 5d1e0a9f
+    digest: 8c2b7e41
"""
    assert rules(with_policy(None, switch_back), "IR010") == []
    policy = load_policy(None)
    assert policy.is_generated("charts/latest/csi-driver-nfs-4.13.0.tgz")
    assert policy.is_generated("charts/index.yaml") and not policy.is_generated("deploy/index.yaml")


def test_a_revert_is_not_asked_to_be_split() -> None:
    """`git revert` undoes a commit as a whole: the reverted commit was the place to ask."""
    revert = with_policy(None, '# commit: Revert "Release v3.0.20220203"\n' + TO_STAGING + ETCD)
    assert rules(revert, "IR010") == []
    assert "IR001" in rules(revert, "IR001")  # what it ships is still judged
    assert rules(with_policy(None, "# commit: Revert the etcd bump\n" + TO_STAGING + ETCD), "IR010") == ["IR010"]


@pytest.mark.parametrize("change", [RELEASE_BUMP, HELM_RELEASE, GO_BUMP], ids=["release", "helm", "go-builder"])
def test_release_bump_mixed_with_other_lines_is_not_reported_by_default(change: str) -> None:
    result = mixed(None, change)
    assert rules(result, "IR010", "IR011") == []
    # The verdict still describes the commits; the summary says why it is not a finding.
    assert result.change_pattern == "mixed"
    assert "Commit order not judged: no commit switches an image from or to staging (`two_step: staging`)." in (
        result.summary_notes
    )


@pytest.mark.parametrize("change", [RELEASE_BUMP, HELM_RELEASE, GO_BUMP], ids=["release", "helm", "go-builder"])
def test_every_production_switch_is_judged_with_two_step_all(change: str) -> None:
    result = mixed("two_step: all", change)
    assert rules(result, "IR010") == ["IR010"]
    assert not any("not judged" in n for n in result.summary_notes)


def test_off_silences_the_two_step_rules() -> None:
    assert rules(mixed("two_step: off", TO_RELEASE), "IR010", "IR011") == []
    assert rules(ordered("two_step: off", TO_RELEASE), "IR010", "IR011") == []
    # Written as YAML's boolean `off`, or quoted: the same scope.
    assert rules(mixed("two_step: 'off'", TO_RELEASE), "IR010") == []
    note = mixed("two_step: off", TO_RELEASE).summary_notes
    assert "Commit order not judged: the two-step rules are off (`two_step: off`)." in note


def test_removed_staging_image_of_another_name_does_not_scope_a_release_bump() -> None:
    # The file loses a staging kube-proxy and bumps a release etcd-manager: the switch is not staging.
    change = RELEASE_BUMP + "-    - image: gcr.io/k8s-staging-kubernetes/kube-proxy:v1.31.0-12-gabcdef0\n"
    assert rules(mixed(None, change), "IR010") == []


def test_image_selection_moved_from_a_template_into_code_is_a_staging_switch() -> None:
    # The template loses its staging default; the Go code now picks the released image per version.
    text = """# commit: Move AWS CCM image logic into pkg/model
# file: upup/models/cloudup/resources/addons/aws-cloud-controller.addons.k8s.io/k8s-1.18.yaml.template
-        image: gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest
+        image: {{ .ExternalCloudControllerManager.Image }}
# file: pkg/model/components/awscloudcontrollermanager.go
-\tif eccm.Image == "" {
-\t\treturn nil
-\t}
+\tif eccm.Image == "" && b.IsKubernetesGTE("1.21") {
+\t\teccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.21.0"
+\t}
+\tif eccm.Image == "" {
+\t\treturn fmt.Errorf("no AWS CCM image for this Kubernetes version")
+\t}
"""
    [f] = [f for f in with_policy(None, text).findings if f.rule == "IR010"]
    assert f.path == "pkg/model/components/awscloudcontrollermanager.go"


def test_staging_image_removed_from_a_test_file_does_not_scope_a_release_bump() -> None:
    text = "# commit: Bump etcd-manager, etcd and the e2e image\n" + RELEASE_BUMP + ETCD + (
        f"# file: tests/e2e/scenarios/bare-metal/run-test\n-  image: {STAGING}:v3.0.20220128-9-gabcdef0\n"
        f"+  image: {RELEASE}:v3.0.20220203\n"
    )
    assert rules(with_policy(None, text), "IR010") == []


def test_staging_switch_in_another_commit_does_not_scope_this_one() -> None:
    # Commit 1 switches staging back to release alone (good); commit 2 bumps a release image with config.
    other = RELEASE_BUMP.replace(MODEL, "pkg/model/components/kubeproxy/model.go").replace("etcd-manager", "kube-proxy")
    result = with_policy(None, "# commit: Use the released etcd-manager\n" + TO_RELEASE
                         + "# commit: Bump kube-proxy and etcd\n" + other + ETCD)
    assert rules(result, "IR010", "IR011") == []
    assert result.change_pattern == "image-only-first"


# --- IR011 -------------------------------------------------------------------------------------


def test_staging_switch_after_related_config_is_reported_by_default() -> None:
    result = ordered(None, TO_RELEASE)
    [f] = [f for f in result.findings if f.rule == "IR011"]
    assert f.path == MODEL and 'commit c0000001 ("Update etcd")' in f.message


def test_release_switch_after_related_config_is_judged_only_with_two_step_all() -> None:
    assert rules(ordered(None, RELEASE_BUMP), "IR011") == []
    assert rules(ordered("two_step: all", RELEASE_BUMP), "IR011") == ["IR011"]
    assert rules(ordered("two_step: off", RELEASE_BUMP), "IR011") == []


def test_order_is_judged_from_the_first_switch_in_scope() -> None:
    # A release bump of the same component comes first, then config, then the staging switch.
    text = ("# commit: Bump etcd-manager\n" + RELEASE_BUMP + "# commit: Update etcd\n" + ETCD
            + "# commit: Use the released etcd-manager\n" + TO_RELEASE.replace("v3.0.20220203", "v3.0.20220301"))
    [f] = [f for f in with_policy(None, text).findings if f.rule == "IR011"]
    assert f.commit == "c0000003" and "v3.0.20220301" in f.message


# --- the policy key ----------------------------------------------------------------------------


def test_invalid_scope_is_policy_invalid_and_the_default_applies() -> None:
    policy = load_policy("two_step: sometimes\n")
    assert [(i.key, i.line, i.message) for i in policy.issues] == [
        ("two_step", 1, "must be staging, all or off, not 'sometimes'")
    ]
    assert policy.two_step == "staging"
    result = run("# file: .github/image-review.yml (new)\n+version: 1\n+two_step: [all]\n")
    [f] = result.findings
    assert f.rule == "IR016" and f.line == 2 and "two_step" in f.message


def test_narrowing_the_scope_weakens_the_policy() -> None:
    kops, default, off = load_policy("two_step: all\n"), load_policy(None), load_policy("two_step: off\n")
    assert [(c.key, c.weakens) for c in diff_policies(kops, default)] == [("two_step", True)]
    assert [(c.key, c.weakens) for c in diff_policies(default, off)] == [("two_step", True)]
    assert [(c.key, c.weakens) for c in diff_policies(off, kops)] == [("two_step", False)]
    text = "# file: .github/image-review.yml\n version: 1\n-two_step: all\n+two_step: staging\n"
    [f] = [f for f in run(text).findings if f.rule == "IR015"]
    assert "`two_step`: all → staging" in f.message


PREFIX_DIFF = """diff --git a/pkg/assets/builder.go b/pkg/assets/builder.go
--- a/pkg/assets/builder.go
+++ b/pkg/assets/builder.go
@@ -7,3 +7,3 @@ func NewAssetBuilder() *AssetBuilder {
-\tprefix := "OLD"
-\tcache := false
+\tprefix := "NEW"
+\tcache := true
 \treturn &AssetBuilder{prefix: prefix}
"""


@pytest.mark.parametrize(
    ("old", "new", "judged"),
    [
        ("gcr.io/k8s-staging-kops/", "registry.k8s.io/kops/", True),  # a registry prefix back to release
        ("registry.k8s.io/kops/", "gcr.io/k8s-staging-kops/", True),
        ("k8s.gcr.io/kops/", "registry.k8s.io/kops/", False),  # a registry rename: release to release
    ],
)
def test_registry_prefix_switch_follows_the_classes_of_both_prefixes(old: str, new: str, judged: bool) -> None:
    # A plain diff, read by the real extractor (partial references), is judged as one commit.
    analysis = analyze(ChangeSet(files=parse_diff(PREFIX_DIFF.replace("OLD", old).replace("NEW", new).encode())))
    assert [f.rule for f in analysis.findings if f.rule == "IR010"] == (["IR010"] if judged else [])
