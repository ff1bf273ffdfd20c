"""SARIF 2.1.0 output: schema-valid, with rules, levels, locations, fingerprints and fixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

try:
    from tests.test_policy_scenario import parse_scenario
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import parse_scenario

from app.core.models import Analysis, Finding
from app.policy import ALL_RULES
from app.report.sarif import FINGERPRINT_KEY, to_sarif

_HERE = Path(__file__).resolve().parent
# The official OASIS schema, kept beside the tests so they never depend on files outside the repository.
SCHEMA_PATH = _HERE / "data" / "sarif-schema-2.1.0.json"


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(schema()).validate(doc)
    json.dumps(doc)  # plain JSON all the way down


SCENARIO = """# policy: {critical_images: {etcd-manager: [alice]}}
# approvals: none
# file: pkg/model/components/etcdmanager/model.go
@@ 180
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220127
+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220203
# file: addons/x.yaml
+        image: k8s.gcr.io/pause:3.1
+        # image-review: allow mutable-tag until 2026-12-31 tracked-by #3
+        image: registry.k8s.io/x/y:latest
"""


def analysis() -> Analysis:
    s = parse_scenario(SCENARIO)
    return s.run().to_analysis(s.refs, not_analysed=["vendor/big.go: too large"], files_analysed=2)


def test_sarif_is_schema_valid_and_complete() -> None:
    a = analysis()
    doc = to_sarif(a, ALL_RULES, version="1.2.3")
    validate(doc)
    assert doc["version"] == "2.1.0"
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("image-review", "1.2.3")
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [m.code for m in ALL_RULES]
    staging = driver["rules"][0]
    assert staging["name"] == "staging-image"
    assert staging["defaultConfiguration"]["level"] == "error"
    assert staging["helpUri"].endswith("docs/rules.md#ir001-staging-image")
    assert staging["shortDescription"]["text"] and staging["fullDescription"]["text"]
    assert len(run["results"]) == len(a.findings)
    for result, finding in zip(run["results"], a.findings, strict=True):
        assert result["ruleId"] == finding.rule
        assert driver["rules"][result["ruleIndex"]]["id"] == finding.rule
        assert result["partialFingerprints"][FINGERPRINT_KEY] == finding.fingerprint
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == finding.path
        assert location["region"]["startLine"] == finding.line
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"] == "vendor/big.go: too large"


def test_levels_fixes_and_suppressions() -> None:
    doc = to_sarif(analysis(), ALL_RULES)
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert results["IR001"]["level"] == "error"
    assert results["IR005"]["level"] == "warning"
    assert results["IR002"]["level"] == "note"  # exempted: lowered to a notice
    assert results["IR002"]["suppressions"][0]["status"] == "accepted"
    [fix] = results["IR001"]["fixes"]
    [change] = fix["artifactChanges"]
    [replacement] = change["replacements"]
    assert replacement["deletedRegion"] == {"startLine": 180}
    assert replacement["insertedContent"]["text"] == "    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203"
    assert results["IR005"]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"] == (
        "        image: registry.k8s.io/pause:3.1"
    )
    assert "fixes" not in results["IR014"]


def test_findings_without_location_and_odd_paths() -> None:
    findings = [
        Finding("IR016", "policy-invalid", "error", ".github/image-review.yml", None, "bad", "f1"),
        Finding("IR015", "policy-weakened", "notice", "", None, "weaker", "f2"),
        Finding("IR002", "mutable-tag", "warning", "dir with space/a#b.yaml", 3, "m", "f3", commit="abc"),
        Finding("IR999", "future-rule", "warning", "x.yaml", 1, "unknown to this rule list", "f4"),
    ]
    a = Analysis(references=[], findings=findings, commits=[], change_pattern="n/a")
    doc = to_sarif(a, ALL_RULES)
    validate(doc)
    results = doc["runs"][0]["results"]
    assert "region" not in results[0]["locations"][0]["physicalLocation"]
    assert "locations" not in results[1]
    assert results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dir%20with%20space/a%23b.yaml"
    assert "ruleIndex" not in results[3]


def test_empty_analysis() -> None:
    doc = to_sarif(Analysis(references=[], findings=[], commits=[], change_pattern="n/a"), ALL_RULES)
    validate(doc)
    assert doc["runs"][0]["results"] == []
