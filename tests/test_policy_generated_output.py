"""IR021: production output that gains a staging image through generated files only."""

from __future__ import annotations

try:
    from tests.test_policy_scenario import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run

SOURCE = "pkg/model/components/awscloudcontrollermanager.go"
GOLDEN = "tests/integration/update_cluster/minimal-1.24/data/aws_s3_object_cluster-completed.spec_content"
STAGING = "gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest"
RELEASE = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0"

REGEN = f"""# commit: Run hack/update-expected.sh
# file: {GOLDEN}
@@ 23
-    image: {RELEASE}
+    image: {STAGING}
# file: tests/integration/update_cluster/complex/data/aws_s3_object_cluster-completed.spec_content
@@ 40
-    image: {RELEASE}
+    image: {STAGING}
"""


def ir021(text: str) -> list[tuple[str, int | None, str, str]]:
    return [(f.path, f.line, f.side, f.severity) for f in run(text).findings if f.rule == "IR021"]


def test_deleted_case_falling_through_to_a_staging_default_is_reported_on_the_default() -> None:
    text = f"""# commit: Use latest staging AWS CCM for k8s 1.24+
# file: {SOURCE}
@@ 97
-        case 24:
-            eccm.Image = "{RELEASE}"
         default:
             eccm.Image = "{STAGING}"
""" + REGEN
    result = run(text)
    [f] = [f for f in result.findings if f.rule == "IR021"]
    # Old lines 97-98 are gone; the context `default:` branch is new line 97, its image line 98.
    assert (f.path, f.line, f.side, f.severity) == (SOURCE, 98, "added", "warning")
    assert "2 generated files" in f.message and STAGING in f.message
    assert not [g for g in result.findings if g.rule == "IR001"]  # the source line itself is unchanged


def test_selection_outside_the_diff_is_reported_on_the_removed_selection() -> None:
    text = f"""# commit: Drop the 1.24 image pin
# file: {SOURCE}
@@ 97
-        case 24:
-            eccm.Image = "{RELEASE}"
""" + REGEN
    assert ir021(text) == [(SOURCE, 98, "removed", "warning")]


def test_only_generated_files_anchor_on_the_first_generated_line() -> None:
    [(path, line, side, _)] = ir021(REGEN)
    complex_golden = "tests/integration/update_cluster/complex/data/aws_s3_object_cluster-completed.spec_content"
    assert (path, line, side) == (complex_golden, 40, "added")


def test_staging_already_in_the_output_is_not_reported() -> None:
    # A regeneration that only moves an existing staging reference (it is removed and added again).
    text = f"""# commit: Run hack/update-expected.sh
# file: {GOLDEN}
@@ 23
-    image: {STAGING}
-    manifestHash: abc
+    image: {STAGING}
+    manifestHash: def
"""
    assert ir021(text) == []


def test_staging_written_by_hand_is_left_to_ir001() -> None:
    text = f"""# commit: Default to latest staging AWS CCM
# file: {SOURCE}
@@ 97
-            eccm.Image = "{RELEASE}"
+            eccm.Image = "{STAGING}"
""" + REGEN
    result = run(text)
    assert [f.rule for f in result.findings if f.rule in ("IR001", "IR021")] == ["IR001"]


def test_release_image_in_output_is_fine() -> None:
    assert ir021(REGEN.replace(STAGING, "registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.0")) == []


def test_new_expected_output_of_a_new_test_shows_existing_behaviour() -> None:
    # A new integration test's golden file holds the staging default the code already selected.
    text = f"""# commit: Add an integration test for 1.24
# file: tests/integration/update_cluster/minimal-1.24/in-v1alpha2.yaml (new)
+  kubernetesVersion: v1.24.0
# file: {GOLDEN} (new)
+    image: {STAGING}
"""
    assert ir021(text) == []
