"""One finding per cause: IR005 once per pull request and deprecated registry, IR004 once per file,
anchored on the first reference, with counts that add up; exemptions still work per line; every
output format carries the other places.  Real diffs through the real extractor and engine."""

from __future__ import annotations

import json
from datetime import date

from diff_helpers import make_diff

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.core.diffs import parse_diff
from app.core.models import Analysis, Finding
from app.policy.engine import fingerprint
from app.report.check_formats import format_github, format_json, format_sarif
from app.report.inline_comments import plan_inline

TODAY = date(2026, 6, 1)
ALLOW = "image-review: allow IR005 until 2026-12-31 tracked-by #4321 -- the mirror still serves k8s.gcr.io"


def manifest(*images: str) -> str:
    containers = "".join(f"      - name: c{i}\n        image: {image}\n" for i, image in enumerate(images))
    return f"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n{containers}"


# A registry migration reverted: four addon manifests and a Go default move back to k8s.gcr.io.
FILES = {
    "upup/models/cloudup/resources/addons/coredns.addons.k8s.io/k8s-1.12.yaml.template":
        ["coredns/coredns:v1.10.1", "cpa/cluster-proportional-autoscaler:1.8.8"],
    "upup/models/cloudup/resources/addons/metrics-server.addons.k8s.io/k8s-1.11.yaml.template":
        ["metrics-server/metrics-server:v0.6.4", "addon-resizer:1.8.14", "pause:3.9"],
    "upup/models/cloudup/resources/addons/dns-controller.addons.k8s.io/k8s-1.12.yaml.template":
        ["kops/dns-controller:1.28.0"],
    "upup/models/cloudup/resources/addons/node-problem-detector.addons.k8s.io/k8s-1.17.yaml.template":
        ["node-problem-detector/node-problem-detector:v0.8.13"],
}


def migration_diff(exempt: frozenset[str] = frozenset()) -> bytes:
    """The migration, with an exemption comment above each image in ``exempt``."""
    out = b""
    for path, images in FILES.items():
        old = manifest(*(f"registry.k8s.io/{i}" for i in images))
        new = manifest(*(f"k8s.gcr.io/{i}" for i in images))
        for image in (i for i in images if i in exempt):
            new = new.replace(f"        image: k8s.gcr.io/{image}\n",
                              f"        # {ALLOW}\n        image: k8s.gcr.io/{image}\n")
        out += make_diff(path, old, new)
    return out


def review(diff: bytes) -> Analysis:
    return analyze(ChangeSet(files=parse_diff(diff)), AnalysisContext(today=TODAY))


def of(analysis: Analysis, rule: str) -> list[Finding]:
    return [f for f in analysis.findings if f.rule == rule]


def test_a_registry_migration_is_one_finding_with_counts_that_add_up() -> None:
    analysis = review(migration_diff())
    [grouped] = of(analysis, "IR005")
    paths = sorted(FILES)
    first = paths[0]  # coredns: the first added reference in path order
    assert (grouped.path, grouped.line, grouped.severity) == (first, 8, "warning")
    assert grouped.message.startswith(
        "This pull request adds 7 references to the deprecated registry `k8s.gcr.io` in 4 files: "
        f"`{paths[0]}` (2), `{paths[1]}` (1), `{paths[2]}` (3) and 1 more file (1 reference). On this line: "
        "`k8s.gcr.io/coredns/coredns:v1.10.1` uses the deprecated registry `k8s.gcr.io`"
    )
    # The anchor keeps its one-click fix and the fingerprint a single finding would have.
    assert grouped.suggestion == "        image: registry.k8s.io/coredns/coredns:v1.10.1"
    assert grouped.fingerprint == fingerprint("IR005", first, "k8s.gcr.io/coredns/coredns:v1.10.1", "added")
    assert len(grouped.also) == 6 and (grouped.path, grouped.line) not in {(a.path, a.line) for a in grouped.also}
    assert {a.path for a in grouped.also} == set(FILES)


def test_an_exempted_reference_is_left_out_of_the_group_and_keeps_its_notice() -> None:
    analysis = review(migration_diff(exempt=frozenset({"pause:3.9"})))
    standing = [f for f in of(analysis, "IR005") if f.exempted_by is None]
    exempted = [f for f in of(analysis, "IR005") if f.exempted_by is not None]
    assert len(standing) == 1 and len(exempted) == 1
    assert exempted[0].severity == "notice" and "#4321" in exempted[0].exempted_by  # type: ignore[operator]
    assert "adds 6 references" in standing[0].message
    assert (exempted[0].path, exempted[0].line) not in {(a.path, a.line) for a in standing[0].also}


def test_when_every_reference_is_exempted_there_is_no_grouped_finding() -> None:
    every = frozenset(i for images in FILES.values() for i in images)
    analysis = review(migration_diff(exempt=every))
    found = of(analysis, "IR005")
    assert len(found) == 7 and all(f.exempted_by and f.severity == "notice" and not f.also for f in found)
    assert not [f for f in analysis.findings if f.severity != "notice"]


def test_the_first_reference_exempted_moves_the_anchor_to_the_next() -> None:
    analysis = review(migration_diff(exempt=frozenset({"coredns/coredns:v1.10.1"})))
    [grouped] = [f for f in of(analysis, "IR005") if f.exempted_by is None]
    assert "k8s.gcr.io/cpa/cluster-proportional-autoscaler:1.8.8" in grouped.message.split("On this line:")[1]
    assert "adds 6 references" in grouped.message


def test_one_reference_is_reported_as_before() -> None:
    path = "addons/metrics-server/v0.6.yaml"
    diff = make_diff(path, manifest("registry.k8s.io/metrics-server/metrics-server:v0.6.1"),
                     manifest("k8s.gcr.io/metrics-server/metrics-server:v0.6.1"))
    [single] = of(review(diff), "IR005")
    assert single.message.startswith("`k8s.gcr.io/metrics-server/metrics-server:v0.6.1` uses the deprecated")
    assert single.also == ()


GO_VERSIONS = """package components

func kubeProxyImage(version string) string {
\tswitch version {
\tcase "1.30":
\t\treturn "registry.k8s.io/kube-proxy:v1.30.2"
\t}
\treturn ""
}
"""


def test_prerelease_tags_are_one_finding_per_file() -> None:
    new = GO_VERSIONS.replace('\t}\n\treturn ""', "".join(
        f'\tcase "1.{m}":\n\t\treturn "registry.k8s.io/kube-proxy:v1.{m}.0-alpha.{n}"\n'
        for m, n in ((31, 1), (32, 2), (33, 3))) + '\t}\n\treturn ""')
    model = "pkg/model/components/kubeproxy.go"
    other = "pkg/model/components/kubescheduler.go"
    diff = make_diff(model, GO_VERSIONS, new)
    diff += make_diff(other, GO_VERSIONS.replace("kube-proxy", "kube-scheduler"),
                      new.replace("kube-proxy", "kube-scheduler").replace("alpha.2", "rc.0"))
    found = of(review(diff), "IR004")
    assert [(f.path, f.line) for f in found] == [(model, 8), (other, 8)]
    for f in found:
        assert f.message.startswith("This file adds 3 references with a pre-release tag, on lines 8, 10, 12. ")
        assert [(a.path, a.line) for a in f.also] == [(f.path, 10), (f.path, 12)]


def test_formats_carry_the_other_places() -> None:
    analysis = review(migration_diff())
    [grouped] = of(analysis, "IR005")
    [entry] = [f for f in json.loads(format_json(analysis))["findings"] if f["rule"] == "IR005"]
    assert entry["also"] == [f"{a.path}:{a.line}" for a in grouped.also] and entry["line"] == grouped.line
    [result] = [r for r in json.loads(format_sarif(analysis))["runs"][0]["results"] if r["ruleId"] == "IR005"]
    related = result["relatedLocations"]
    assert [r["id"] for r in related] == list(range(1, 7))
    assert [(r["physicalLocation"]["artifactLocation"]["uri"], r["physicalLocation"]["region"]["startLine"])
            for r in related] == [(a.path, a.line) for a in grouped.also]
    assert result["fixes"][0]["artifactChanges"][0]["replacements"][0]["deletedRegion"] == {"startLine": 8}
    github = [line for line in format_github(analysis).splitlines() if "IR005" in line]
    assert len(github) == 1 and f"line={grouped.line}" in github[0]


def test_the_grouped_finding_is_one_inline_comment_with_its_suggestion() -> None:
    analysis = review(migration_diff())
    [grouped] = of(analysis, "IR005")
    plan = plan_inline(analysis.findings, {grouped.path: frozenset(range(1, 20))}, set(), cap=30)
    [comment] = plan.new
    assert (comment.path, comment.line) == (grouped.path, grouped.line)
    assert "```suggestion\n        image: registry.k8s.io/coredns/coredns:v1.10.1\n```" in comment.body
    assert "in 4 files" in comment.body


def test_severities_group_apart() -> None:
    # With a lower severity outside production, the test manifests are a group of their own:
    # a warning must not absorb notices (or the reverse) and misstate what stands.
    policy = "rules:\n  deprecated-registry:\n    outside_production: notice\n"
    diff = migration_diff()
    for n in (1, 2):
        path = f"test/e2e/manifests/pause-{n}.yaml"
        diff += make_diff(path, manifest("registry.k8s.io/pause:3.9"), manifest("k8s.gcr.io/pause:3.9"))
    analysis = analyze(ChangeSet(files=parse_diff(diff), policy_text=policy), AnalysisContext(today=TODAY))
    found = sorted((f.severity, f.path, len(f.also)) for f in of(analysis, "IR005"))
    assert found == [("notice", "test/e2e/manifests/pause-1.yaml", 1), ("warning", sorted(FILES)[0], 6)]


def test_rules_without_a_group_keep_one_finding_per_reference() -> None:
    # Every floating tag is its own decision (and an error each): IR002 does not group.
    files = (("deploy/controller.yaml", "kops/kops-controller"), ("deploy/dns.yaml", "kops/dns-controller"))
    diff = b"".join(
        make_diff(path, manifest(f"registry.k8s.io/{name}:v1.2.0"), manifest(f"registry.k8s.io/{name}:latest"))
        for path, name in files
    )
    found = of(review(diff), "IR002")
    assert [(f.path, f.severity, f.also) for f in found] == [
        ("deploy/controller.yaml", "error", ()), ("deploy/dns.yaml", "error", ()),
    ]


def test_the_anchor_is_the_first_reference_with_a_one_click_fix() -> None:
    """A Bazel container_pull split over three lines gets no suggestion; the manifest after it does."""
    workspace_old = ('container_pull(\n    name = "debian-base",\n    registry = "registry.k8s.io",\n'
                     '    repository = "debian-base",\n    tag = "v1.0.0",\n)\n')
    workspace = make_diff("WORKSPACE", workspace_old, workspace_old.replace('"registry.k8s.io"', '"k8s.gcr.io"'))
    analysis = review(workspace + migration_diff())
    [grouped] = of(analysis, "IR005")
    assert grouped.path.startswith("upup/") and grouped.suggestion is not None
    assert "WORKSPACE" in [place.path for place in grouped.also]
    assert "This pull request adds 8 references to the deprecated registry `k8s.gcr.io` in 5 files: `WORKSPACE` (1)" \
        in grouped.message
    alone = of(review(workspace), "IR005")
    assert [f.suggestion for f in alone] == [None]  # what made the first reference unfit to carry the comment


def test_a_staging_image_without_a_fix_is_one_finding_and_with_a_fix_one_per_line() -> None:
    """IR001: `:master` from staging in several manifests has no suggestion; one comment names every
    place. A release-shaped staging tag has a one-click fix on each line, so each line keeps its own."""
    def manifests(image: str) -> bytes:
        return b"".join(make_diff(f"deployment/base/{name}.yaml", manifest("registry.k8s.io/nfd/nfd:v0.18.0"),
                                  manifest(image)) for name in ("gc", "master", "worker"))

    [grouped] = of(review(manifests("gcr.io/k8s-staging-nfd/nfd:master")), "IR001")
    assert grouped.severity == "error" and grouped.suggestion is None
    assert grouped.message.startswith(
        "This pull request adds 3 references of the staging image `gcr.io/k8s-staging-nfd/nfd:master` in 3 files:")
    assert [str(place) for place in grouped.also] == ["deployment/base/master.yaml:8", "deployment/base/worker.yaml:8"]
    fixable = of(review(manifests("gcr.io/k8s-staging-nfd/nfd:v0.18.1")), "IR001")
    assert len(fixable) == 3 and all(f.suggestion and not f.also for f in fixable)
