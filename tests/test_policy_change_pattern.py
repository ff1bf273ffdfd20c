"""The two-step change pattern on constructed commit sequences (corpus README, "Two-step labels").

These scenarios follow kops, whose commits switch release images too: every production switch is
judged (`two_step: all`). Which switches each scope judges is tested in test_policy_two_step_scope.
"""

from __future__ import annotations

from datetime import date

try:
    from tests.test_policy_scenario import run as run_scenario
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run as run_scenario

from app.core.diffs import FileDiff
from app.core.models import CommitSummary, RefChange
from app.policy import CommitInput, EvalContext, Evaluation, evaluate, load_policy
from app.policy.rules.change_pattern import verdict_of

KOPS_POLICY_LINE = "# policy: two_step: all\n"
KOPS_POLICY = load_policy("two_step: all")


def run(text: str) -> Evaluation:
    return run_scenario(KOPS_POLICY_LINE + text)


MODEL = "pkg/model/components/etcdmanager/model.go"
GOLDEN = "tests/integration/update_cluster/minimal/data/aws_s3_object_manifests-etcdmanager-main_content"
SWITCH = f"""# file: {MODEL}
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220128
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
"""
REGEN = f"""# file: {GOLDEN}
-    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220128
+    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
-    manifestHash: abc
+    manifestHash: def
"""
CONFIG = """# file: pkg/model/components/etcd.go
-	DefaultEtcd3Version_1_22 = "3.5.1"
+	DefaultEtcd3Version_1_22 = "3.5.3"
"""


def kinds(text: str) -> tuple[str, list[str]]:
    result = run(text)
    return result.change_pattern, [c.kind for c in result.commits]


def test_no_images_is_na() -> None:
    assert kinds("# commit: Bump go\n" + CONFIG) == ("n/a", ["config"])


def test_reference_two_step_is_image_only_first() -> None:
    # #13196: commit 1 image line only, commit 2 regenerated goldens.
    result = run("# commit: Update etcd-manager\n" + SWITCH + "# commit: Update expected output\n" + REGEN)
    assert result.change_pattern == "image-only-first"
    assert [c.kind for c in result.commits] == ["image-switch", "regenerated"]
    assert (result.commits[1].image_lines, result.commits[1].generated_lines) == (0, 4)
    assert [f.rule for f in result.findings] == []


def test_image_commit_with_generated_files_is_still_image_switch() -> None:
    assert kinds("# commit: Switch and regen\n" + SWITCH + REGEN + "# commit: Config\n" + CONFIG) == (
        "image-only-first", ["image-switch", "config"]
    )


def test_first_commit_mixed() -> None:
    result = run("# commit: Everything\n" + SWITCH + CONFIG + "# commit: Regen\n" + REGEN)
    assert result.change_pattern == "mixed"
    assert [c.kind for c in result.commits] == ["mixed", "regenerated"]
    [f] = [f for f in result.findings if f.rule == "IR010"]
    assert (f.severity, f.path, f.line) == ("notice", MODEL, 1)
    assert "1 other line in 1 file: pkg/model/components/etcd.go (1 line)." in f.message
    assert 'Commit c0000001 ("Everything")' in f.message
    # A replaced line is one changed line, not two: the count is what the listing adds up to.
    assert result.commits[0].other_lines == 1
    assert result.commits[0].other_locations == ["pkg/model/components/etcd.go:1"]


def test_switch_after_config_is_mixed_with_an_order_notice() -> None:
    # #14734: etcd bump first, then the image switch, then regen.
    result = run("# commit: etcd\n" + CONFIG + "# commit: image\n" + SWITCH + "# commit: regen\n" + REGEN)
    assert result.change_pattern == "mixed"
    assert [c.kind for c in result.commits] == ["config", "image-switch", "regenerated"]
    [f] = [f for f in result.findings if f.rule == "IR011"]
    assert f.severity == "notice" and 'commit c0000001 ("etcd")' in f.message and f.commit == "c0000002"


def test_single_commit_only_images_and_generated() -> None:
    # #13183: model.go + golden files in one commit.
    assert kinds("# commit: Use pre-release\n" + SWITCH + REGEN) == ("single-commit", ["image-switch"])


def test_single_commit_with_other_lines_is_mixed() -> None:
    result = run("# commit: Bump and tweak\n" + SWITCH + CONFIG)
    assert result.change_pattern == "mixed"
    assert [f.rule for f in result.findings] == ["IR010"]


def test_plain_diff_without_commits() -> None:
    assert kinds(SWITCH + REGEN) == ("single-commit", ["image-switch"])
    result = run(SWITCH + CONFIG)
    assert result.change_pattern == "mixed"
    [f] = result.findings
    assert f.rule == "IR010" and f.commit is None and "This change switches" in f.message


def test_blank_and_comment_lines_are_neutral() -> None:
    text = "# commit: image\n" + SWITCH + "+\n+    # keep the release reference here\n" + "# commit: regen\n" + REGEN
    assert kinds(text) == ("image-only-first", ["image-switch", "regenerated"])


def test_go_comment_lines_are_neutral() -> None:
    text = (
        "# commit: image\n# file: pkg/a.go\n"
        '-\timage := "registry.k8s.io/pause:3.1"\n+\timage := "registry.k8s.io/pause:3.9"\n'
        "+\t// pause 3.9 drops the shell\n# commit: other\n" + CONFIG
    )
    assert kinds(text) == ("image-only-first", ["image-switch", "config"])


def test_empty_first_commit_is_skipped() -> None:
    summaries = [
        CommitSummary("a", "empty", "none"),
        CommitSummary("b", "image", "image-switch", 2),
        CommitSummary("c", "config", "config", 0, 3),
    ]
    assert verdict_of(summaries) == "image-only-first"


def test_critical_image_raises_mixed_commit_to_warning() -> None:
    text = "# policy: critical_images: {etcd-manager: [alice]}\n# approvals: none\n# commit: all\n" + SWITCH + CONFIG
    [f] = [f for f in run(text).findings if f.rule == "IR010"]
    assert f.severity == "warning"


def test_commit_with_generated_images_and_config_has_no_mixed_finding() -> None:
    # #17781: a version constant and regenerated goldens in one commit: no image switch in source.
    result = run("# commit: release\n" + CONFIG + REGEN + "# commit: docs\n# file: docs/x.md\n+hello\n")
    assert result.commits[0].kind == "mixed"
    assert result.change_pattern == "mixed"
    assert [f.rule for f in result.findings] == []


def test_binary_and_prefiltered_files_count_as_other_changes() -> None:
    try:
        from tests.test_policy_scenario import parse_scenario
    except ImportError:
        from test_policy_scenario import parse_scenario
    s = parse_scenario(SWITCH)
    binary = FileDiff("logo.png", "logo.png", binary=True)
    prefiltered = FileDiff("pkg/big.go", "pkg/big.go", added=10, removed=2, filtered=True)
    files = [*s.files, binary, prefiltered]
    commit = CommitInput("c1", "image and more", files, s.refs)
    result = evaluate(s.refs, files, [commit], KOPS_POLICY, EvalContext(today=date(2026, 1, 1)))
    assert result.commits[0].kind == "mixed"
    assert result.commits[0].other_lines == 13
    assert result.commits[0].other_locations == ["logo.png", "pkg/big.go"]


def test_transient_reference_only_in_commits_is_not_na() -> None:
    # #14756: staging added in one commit and replaced in the next; the net diff has no reference.
    try:
        from tests.test_policy_scenario import parse_scenario
    except ImportError:
        from test_policy_scenario import parse_scenario
    s = parse_scenario("# commit: a\n" + SWITCH + "# commit: b\n" + SWITCH)
    assert s.commits is not None
    result = evaluate([], [], s.commits, KOPS_POLICY, EvalContext(today=date(2026, 1, 1)))
    assert result.change_pattern == "image-only-first"


# --- lines that are part of the image change (issue: IR010 should judge what the change is) -----

CHART_BUMP = """# commit: Bump aws-load-balancer-controller to v2.8.1
# file: charts/aws-load-balancer-controller/Chart.yaml
-version: 1.8.0
+version: 1.8.1
-appVersion: v2.8.0
+appVersion: v2.8.1
# file: charts/aws-load-balancer-controller/values.yaml
 image:
   repository: public.ecr.aws/eks/aws-load-balancer-controller
-  tag: v2.8.0
+  tag: v2.8.1
"""


def test_chart_version_bump_belongs_to_the_image_switch() -> None:
    result = run(CHART_BUMP.replace("  tag: v2.8.0\n+  tag: v2.8.1\n",
                                    "  image: public.ecr.aws/eks/aws-load-balancer-controller:v2.8.0\n"
                                    "+  image: public.ecr.aws/eks/aws-load-balancer-controller:v2.8.1\n"))
    assert [c.kind for c in result.commits] == ["image-switch"]
    assert [f.rule for f in result.findings] == []


def test_go_constant_with_the_tag_belongs_to_the_image_switch() -> None:
    text = """# commit: Update etcd-manager to v3.0.20221209
# file: pkg/model/components/etcdmanager/model.go
-const etcdManagerVersion = "v3.0.20220831"
+const etcdManagerVersion = "v3.0.20221209"
@@ 180
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209
"""
    assert kinds(text) == ("single-commit", ["image-switch"])


def test_reordered_keys_and_case_selectors_are_not_other_lines() -> None:
    text = """# commit: Use the 1.24 image for 1.25
# file: pkg/model/components/awscloudcontrollermanager.go
@@ 95
         switch b.Cluster.IsKubernetesGTE {
+        case 25:
+            eccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.25.0"
         case 24:
-            eccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0"
+            eccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.1"
         }
# file: deploy/values.yaml
-  pullPolicy: IfNotPresent
-  replicas: 2
+  replicas: 2
+  pullPolicy: IfNotPresent
"""
    result = run(text)
    assert [c.kind for c in result.commits] == ["image-switch"]
    assert result.commits[0].other_lines == 0


def test_key_moved_to_the_head_of_a_yaml_list_item_is_a_reorder() -> None:
    # kops #13465: the switch to a staging build moves `name:` above `image:` in the manifest and
    # keeps the release reference as a comment; only the image changed.
    text = """# commit: Update to etcd-manager v3.0.20220417-19-g1140ce25
# file: pkg/model/components/etcdmanager/model.go
@@ 178
   containers:
-  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220417
-    name: etcd-manager
+  - name: etcd-manager
+    # image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220417
+    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220417-19-g1140ce25
     resources:
# commit: Update etcd to v3.5.4
""" + CONFIG
    result = run(text)
    assert [c.kind for c in result.commits] == ["image-switch", "config"]
    assert result.change_pattern == "image-only-first"
    assert [f.rule for f in result.findings if f.rule in ("IR010", "IR011")] == []
    # A list item whose key really changed is still another line.
    changed = text.replace("+  - name: etcd-manager", "+  - name: etcd-manager-main")
    assert run(changed).commits[0].kind == "mixed"


def test_new_file_and_deleted_case_branch_are_not_switches() -> None:
    # Adding a manifest and deleting a version branch change no existing reference: no IR010.
    text = """# commit: Add the 1.30 addon and drop 1.23
# file: addons/k8s-1.30.yaml (new)
+        image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.30.0
+        args: ["--v=2"]
# file: pkg/model/components/awscloudcontrollermanager.go
@@ 97
-        case 23:
-            eccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0"
         default:
-    return nil
+    return b.validate()
"""
    result = run(text)
    assert result.commits[0].other_lines == 2
    assert [f.rule for f in result.findings if f.rule in ("IR010", "IR011")] == []


def test_regenerated_commit_by_subject_is_not_an_image_switch() -> None:
    # The regenerated assets list is not under generated_paths; the commit says what it is.
    assets = "tests/integration/update_cluster/containerd/assets.yaml"
    text = ("# commit: Release 1.35.0-alpha.1\n" + CONFIG
            + f"# commit: Run hack/update-expected.sh\n# file: {assets}\n"
            "-- registry.k8s.io/kops/kops-utils-cp:1.35.0-alpha.0\n"
            "+- registry.k8s.io/kops/kops-utils-cp:1.35.0-alpha.1\n")
    result = run(text)
    assert [c.kind for c in result.commits] == ["config", "regenerated"]
    assert [f.rule for f in result.findings if f.rule in ("IR010", "IR011")] == []


def test_unrelated_earlier_commit_is_not_asked_to_move() -> None:
    text = ("# commit: Fix typo in an integration test\n"
            "# file: tests/integration/update_cluster/minimal/in-v1alpha2.yaml\n"
            "-  kubernetesVersion: v1.21.0\n+  kubernetesVersion: v1.21.1\n"
            "# commit: Update etcd-manager\n" + SWITCH)
    result = run(text)
    assert [f.rule for f in result.findings if f.rule == "IR011"] == []


def test_related_earlier_commit_is_asked_to_move() -> None:
    # pkg/model/components/etcd.go sits in the parent directory of the switched model.go.
    result = run("# commit: etcd\n" + CONFIG + "# commit: image\n" + SWITCH)
    [f] = [f for f in result.findings if f.rule == "IR011"]
    assert "which changes the same component" in f.message


def test_counts_add_up_and_few_files_are_listed() -> None:
    files = "".join(
        f"# file: pkg/feature{i}/flags.go\n" + "".join(f"-\tflag{j} = false\n+\tflag{j} = true\n" for j in range(i + 1))
        for i in range(5)
    )
    result = run("# commit: Bump and flip flags\n" + SWITCH + files)
    [f] = [f for f in result.findings if f.rule == "IR010"]
    assert result.commits[0].other_lines == 15  # 1 + 2 + 3 + 4 + 5 replaced lines
    assert "15 other lines in 5 files: pkg/feature4/flags.go (5 lines), pkg/feature3/flags.go (4 lines), " \
        "pkg/feature2/flags.go (3 lines) and 2 more files (3 lines)." in f.message


def test_rewritten_but_unchanged_reference_is_not_a_switch() -> None:
    # A chart's values get helm-docs comments: the repository line moves, the reference stays.
    text = """# commit: feat(chart): document values
# file: charts/external-dns/values.yaml
@@ 5
 image:
-  repository: registry.k8s.io/external-dns/external-dns
+  # -- Image repository for the `external-dns` container.
+  repository: registry.k8s.io/external-dns/external-dns
+  # -- Image tag, defaults to the chart's appVersion.
   tag: ~
# file: charts/external-dns/templates/_helpers.tpl
+{{- define "external-dns.image" -}}
"""
    result = run(text.replace("repository: registry", "image: registry"))
    assert [f.rule for f in result.findings if f.rule == "IR010"] == []


def test_version_bump_pairs_the_removed_half_with_the_added_half() -> None:
    # golang:1.23.2 and go.mod's `go 1.23.2`: the old `go 1.23.0` goes with its replacement.
    text = """# commit: chore: update Go to 1.23.2
# file: Dockerfile
-FROM golang:1.23.1 as build
+FROM golang:1.23.2 as build
# file: go.mod
-go 1.23.0
+go 1.23.2
-toolchain go1.23.1
+toolchain go1.23.2
"""
    result = run(text)
    assert [c.kind for c in result.commits] == ["image-switch"]


def test_image_named_in_documentation_is_not_a_switch() -> None:
    text = """# commit: Update cloudflare tutorial
# file: docs/tutorials/cloudflare.md
-        image: registry.k8s.io/external-dns/external-dns:v0.14.0
+        image: registry.k8s.io/external-dns/external-dns:v0.14.2
-Use the `--cloudflare-proxied` flag.
+Use the `--cloudflare-proxied` flag to proxy records.
"""
    assert [f.rule for f in run(text).findings if f.rule == "IR010"] == []


def test_imported_subtree_and_go_sum_are_regenerated_output() -> None:
    text = """# commit: Squashed 'release-tools/' changes from de06a09a7..909252797
# file: release-tools/cloudbuild.yaml
-- name: gcr.io/k8s-staging-test-infra/gcb-docker-gcloud:v20250116-2a05ea7e3d
+- name: gcr.io/k8s-staging-test-infra/gcb-docker-gcloud:v20260205-38cfa9523f
# file: release-tools/prow.sh
-configvar CSI_PROW_GO_VERSION_BUILD "1.23.1"
+configvar CSI_PROW_GO_VERSION_BUILD "1.24.0"
# commit: Bump dependencies
# file: go.sum
-github.com/x/y v1.0.0 h1:abc=
+github.com/x/y v1.0.1 h1:def=
"""
    assert [c.kind for c in run(text).commits] == ["regenerated", "regenerated"]


def test_declaration_of_the_variable_an_image_line_used_belongs_to_the_change() -> None:
    # The tag variable goes away with the fmt.Sprintf that used it: one image change, nothing else.
    try:
        from tests.test_policy_scenario import parse_scenario
    except ImportError:
        from test_policy_scenario import parse_scenario
    path = "pkg/model/components/awscloudcontrollermanager.go"
    s = parse_scenario(f"""# file: {path}
-        var tag string
         switch b.Cluster.KubernetesVersion().Minor {{
         case 21:
-            tag = "v1.21.0-alpha.0"
+            eccm.Image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.21.0-alpha.0"
         }}
-        eccm.Image = fmt.Sprintf("registry.k8s.io/provider-aws/cloud-controller-manager:%v", tag)
""")
    # The product's extractor reads the Sprintf format as a templated reference; the test helper does not.
    sprintf = RefChange(path, 6, "removed", "registry.k8s.io/provider-aws/cloud-controller-manager:%v",
                        "registry.k8s.io", "provider-aws/cloud-controller-manager", "%v", None, "release",
                        "code-literal", templated=True)
    refs = [*s.refs, sprintf]
    commit = CommitInput("c1", "Pin one AWS CCM image per Kubernetes version", s.files, refs)
    result = evaluate(refs, s.files, [commit], KOPS_POLICY, EvalContext(today=date(2026, 1, 1)))
    assert [c.kind for c in result.commits] == ["image-switch"]
    assert result.commits[0].other_lines == 0


def test_ci_and_tooling_images_need_no_two_step_order() -> None:
    # A golang bump in cloudbuild.yaml with the workflow's Go version: not a released image.
    text = """# commit: Bump to Go 1.24
# file: cloudbuild.yaml
-  - name: docker.io/library/golang:1.23.6-bookworm
+  - name: docker.io/library/golang:1.24.1-bookworm
# file: .golangci.yaml
-  go: "1.23"
+  go: "1.24"
+  timeout: 10m
"""
    result = run(text)
    assert [f.rule for f in result.findings if f.rule in ("IR010", "IR011")] == []
