"""Registry evidence in the rules: IR001's suggestion per verdict, IR018-IR020, and the gathering
(allow-lists, one lookup per distinct reference, the promoter's manifests). No network: the
evidence comes from table-driven resolvers (the real registry is in test_verification.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_policy_scenario import TableRegistry, parse_scenario, run

from app.core.models import Finding
from app.policy import BY_CODE, Evaluation, load_policy
from app.policy.mappings import promoter_project
from app.policy.policy_diff import diff_policies
from app.registry.client import host_matches
from app.registry.promotion import IMAGES_YAML_PATH, PromoterManifestSource
from app.registry.verify import gather

STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428"
RELEASE = "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428"
BUILD = "sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0"
OTHER = "sha256:88c5ffa7f497bdabce8ac33c33deac1fd4599f437d553f373ce34712eef48281"
MODEL = "pkg/model/components/etcdmanager/model.go"

STAGING_PR = f"""
# file: {MODEL}
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
+    - image: {STAGING}
"""


def only(result: Evaluation, rule: str) -> Finding:
    [finding] = [f for f in result.findings if f.rule == rule]
    return finding


def codes(result: Evaluation) -> list[str]:
    return [f.rule for f in result.findings]


# --- IR001: the suggestion follows the evidence -------------------------------------------------------


def test_promoted_suggests_the_release_and_says_why() -> None:
    result = run(f"# registry: {STAGING} digest {BUILD}\n# registry: {RELEASE} digest {BUILD}\n" + STAGING_PR)
    finding = only(result, "IR001")
    assert finding.severity == "error"
    assert finding.suggestion == f"    - image: {RELEASE}"
    assert f"Use `{RELEASE}`: it is the same build (same digest `{BUILD}`, checked in registry.k8s.io)" in (
        finding.message
    )
    assert codes(result) == ["IR001"]


def test_not_promoted_has_no_suggestion_and_says_what_is_missing() -> None:
    result = run(f"# registry: {STAGING} digest {BUILD}\n# registry: {RELEASE} missing\n" + STAGING_PR)
    finding = only(result, "IR001")
    assert finding.suggestion is None
    assert "this build has not been promoted" in finding.message
    assert "release tag 'v3.0.20220428' does not exist in registry.k8s.io/etcdadm/etcd-manager" in finding.message


def test_different_build_has_no_suggestion_and_names_both_digests() -> None:
    result = run(f"# registry: {STAGING} digest {BUILD}\n# registry: {RELEASE} digest {OTHER}\n" + STAGING_PR)
    finding = only(result, "IR001")
    assert finding.suggestion is None
    assert f"`{RELEASE}` is not this build" in finding.message
    assert BUILD in finding.message and OTHER in finding.message


def test_unknown_keeps_the_suggestion_marked_unverified_with_the_reason() -> None:
    result = run("# registry: registry.k8s.io unreachable\n" + STAGING_PR)
    finding = only(result, "IR001")
    assert finding.suggestion == f"    - image: {RELEASE}"
    assert "(unverified: registry.k8s.io could not be asked: cannot connect (connection refused))" in finding.message
    assert any("registry.k8s.io could not be asked" in n and "does not fail" in n for n in result.summary_notes)
    assert codes(result) == ["IR001"]  # nothing more than without verification


def test_without_verification_the_message_is_unchanged() -> None:
    finding = only(run(STAGING_PR), "IR001")
    assert finding.suggestion == f"    - image: {RELEASE}"
    assert "(check that tag v3.0.20220428 has been promoted)" in finding.message


def test_a_vanished_staging_tag_keeps_the_suggestion_unverified() -> None:
    # Staging registries clean up old builds: the release exists but cannot be compared.
    result = run(f"# registry: {RELEASE} digest {BUILD}\n" + STAGING_PR)
    finding = only(result, "IR001")
    assert finding.suggestion is not None
    assert "unverified" in finding.message and "no longer exists" in finding.message


def test_staging_images_outside_production_are_not_looked_up() -> None:
    scenario = parse_scenario(
        f"# registry: {STAGING} digest {BUILD}\n# file: tests/e2e/etcd.yaml\n+    - image: {STAGING}\n"
    )
    assert scenario.context.registry is not None and scenario.context.registry.promotion == {}


# --- IR018, IR019, IR020 ---------------------------------------------------------------------------------

RELEASE_PR = f"""
# file: {MODEL}
-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.2022503
# file: tests/e2e/etcd.yaml
+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.2022503
"""


def test_missing_release_tag_is_an_error_in_production_and_a_warning_elsewhere() -> None:
    result = run(f"# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest {BUILD}\n" + RELEASE_PR)
    found = {(f.path, f.rule, f.severity) for f in result.findings}
    assert found == {(MODEL, "IR018", "error"), ("tests/e2e/etcd.yaml", "IR018", "warning")}
    [message] = [f.message for f in result.findings if f.path == MODEL]
    assert message.startswith("`registry.k8s.io/etcdadm/etcd-manager:v3.0.2022503` does not exist: tag 'v3.0.2022503' "
                              "does not exist in registry.k8s.io/etcdadm/etcd-manager.")


def test_existing_release_tag_is_fine() -> None:
    result = run(
        f"# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest {BUILD}\n# file: {MODEL}\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503\n"
    )
    assert codes(result) == []
    assert result.summary_notes == [
        "Registry verification: 0 staging reference(s) compared with their release image, "
        "1 release reference(s) checked."
    ]


def test_tag_and_digest_that_disagree_is_an_error() -> None:
    result = run(
        f"# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest {BUILD}\n# file: {MODEL}\n"
        f"+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503@{OTHER}\n"
    )
    finding = only(result, "IR019")
    assert finding.severity == "error" and BUILD in finding.message and OTHER in finding.message


def test_pinned_digest_missing_from_the_repository_is_a_missing_release() -> None:
    result = run(f"# registry: registry.k8s.io/etcdadm/etcd-manager:v1 digest {BUILD}\n# file: {MODEL}\n"
                 f"+    - image: registry.k8s.io/etcdadm/etcd-manager@{OTHER}\n")
    assert codes(result) == ["IR018"]


def test_unreachable_registry_is_a_notice_naming_it_and_never_an_error() -> None:
    result = run("# registry: registry.k8s.io unreachable\n" + RELEASE_PR)
    assert {(f.rule, f.severity) for f in result.findings} == {("IR020", "notice")}
    message = result.findings[0].message
    assert "registry.k8s.io could not be asked: cannot connect (connection refused)" in message
    assert "does not fail the check" in message


def test_registry_unverified_cannot_be_raised_by_the_policy() -> None:
    policy = load_policy("rules:\n  registry-unverified: error\n")
    [issue] = policy.issues
    assert issue.message == "IR020 (registry-unverified) is always a notice; it can only be disabled"
    assert policy.rule(BY_CODE["IR020"]).severity == "notice"
    assert load_policy("rules:\n  registry-unverified: false\n").issues == ()


# --- Gathering: allow-lists, dedupe, disabled rules, the promoter's manifests --------------------------------


def added_lines(*images: str, path: str = MODEL) -> str:
    return f"# file: {path}\n" + "".join(f"+    - image: {image}\n" for image in images)


def test_hosts_off_the_policy_allow_list_are_not_asked() -> None:
    registry = TableRegistry()
    policy_text = "registry_verification:\n  allowed_hosts: {remove: [registry.k8s.io]}\n"
    scenario = parse_scenario(added_lines(STAGING, "registry.k8s.io/pause:3.9"), load_policy(policy_text))
    evidence = gather(scenario.refs, scenario.policy, registry)
    assert registry.asked == []
    assert evidence.promotion == {} and evidence.release_tags == {}
    assert "not on the policy's registry allow-list" in evidence.not_asked["registry.k8s.io"]


def test_each_distinct_reference_is_asked_once() -> None:
    registry = TableRegistry({})
    registry.add(f"{STAGING} digest {BUILD}")
    registry.add(f"{RELEASE} digest {BUILD}")
    files = "".join(added_lines(STAGING, RELEASE, path=f"pkg/model/file{i}.go") for i in range(120))
    scenario = parse_scenario(files)
    evidence = gather(scenario.refs, scenario.policy, registry)
    assert sorted(r.canonical() for r in registry.asked) == sorted([RELEASE, STAGING])
    assert evidence.promotion[STAGING].verdict == "promoted"
    assert evidence.release_tags[RELEASE].outcome == "ok"


def test_disabled_rules_ask_nothing() -> None:
    registry = TableRegistry()
    rules = ("staging-image", "release-tag-missing", "release-digest-mismatch")
    policy = load_policy("rules:\n" + "".join(f"  {rule}: false\n" for rule in rules))
    scenario = parse_scenario(added_lines(STAGING, RELEASE), policy)
    gather(scenario.refs, scenario.policy, registry)
    assert registry.asked == []


def test_allowed_hosts_can_be_edited() -> None:
    policy = load_policy("registry_verification:\n  allowed_hosts: {add: ['127.0.0.1:*'], remove: [docker.io]}\n")
    hosts = policy.registry_verification.allowed_hosts
    assert "127.0.0.1:*" in hosts and "docker.io" not in hosts and "registry.k8s.io" in hosts
    bad = load_policy("registry_verification:\n  allowed_hosts: [https://registry.k8s.io]\n")
    assert "must be a registry host" in bad.issues[0].message


ETCDADM_YAML = f"""
- name: etcd-manager
  dmap:
    "{BUILD}": ["v3.0.20220503"]
"""


def manifests(files: dict[str, str]) -> PromoterManifestSource:
    return PromoterManifestSource(files.get)


def k8s_io(project: str, text: str) -> dict[str, str]:
    return {IMAGES_YAML_PATH.format(project=project): text}


def test_manifest_finds_a_build_promoted_under_another_tag() -> None:
    # kops #13588 -> #13598: the staging build v3.0.20220428 was promoted as v3.0.20220503.
    registry = TableRegistry()
    registry.add(f"{STAGING} digest {BUILD}")
    scenario = parse_scenario(STAGING_PR)
    source = manifests(k8s_io("k8s-staging-etcdadm", ETCDADM_YAML))
    evidence = gather(scenario.refs, scenario.policy, registry, source)
    promoted = evidence.promotion[STAGING]
    assert (promoted.verdict, promoted.source) == ("promoted", "promoter-manifest")
    assert promoted.release_ref.canonical() == "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503"
    finding = only(replace(scenario, context=replace(scenario.context, registry=evidence)).run(), "IR001")
    assert finding.suggestion == "    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503"
    assert f"same digest `{BUILD}`" in finding.message
    assert "registry.k8s.io/images/k8s-staging-etcdadm/images.yaml" in finding.message


def test_manifest_answers_when_the_release_registry_cannot() -> None:
    registry = TableRegistry()
    registry.add(f"gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220503 digest {BUILD}")
    registry.add("registry.k8s.io unreachable")
    text = STAGING_PR.replace("v3.0.20220428", "v3.0.20220503")
    scenario = parse_scenario(text)
    evidence = gather(scenario.refs, scenario.policy, registry, manifests(k8s_io("k8s-staging-etcdadm", ETCDADM_YAML)))
    [promoted] = evidence.promotion.values()
    assert (promoted.verdict, promoted.release_digest) == ("promoted", BUILD)


def test_manifest_confirms_a_release_tag_when_the_registry_cannot() -> None:
    registry = TableRegistry()
    registry.add("registry.k8s.io unreachable")
    source = manifests(k8s_io("k8s-staging-etcdadm", ETCDADM_YAML))
    good = parse_scenario(added_lines("registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503"))
    [check] = gather(good.refs, good.policy, registry, source).release_tags.values()
    assert (check.outcome, check.registry_digest) == ("ok", BUILD)
    pinned = parse_scenario(added_lines(f"registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503@{OTHER}"))
    [check] = gather(pinned.refs, pinned.policy, registry, source).release_tags.values()
    assert check.outcome == "digest-mismatch"
    # A tag the file does not list stays unverified: the file may lag the registry.
    unlisted = parse_scenario(added_lines("registry.k8s.io/etcdadm/etcd-manager:v3.0.20990101"))
    [check] = gather(unlisted.refs, unlisted.policy, registry, source).release_tags.values()
    assert check.outcome == "unknown"


@pytest.mark.parametrize(
    ("prefix", "project"),
    [
        ("gcr.io/k8s-staging-etcdadm", "k8s-staging-etcdadm"),
        ("us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager", "k8s-staging-etcd-manager"),
        ("us-central1-docker.pkg.dev/k8s-staging-images/brand-new", "k8s-staging-brand-new"),
        ("127.0.0.1:5000/k8s-staging-etcdadm", "k8s-staging-etcdadm"),
        ("quay.io/myorg-dev", None),
    ],
)
def test_promoter_project_of_a_staging_prefix(prefix: str, project: str | None) -> None:
    assert promoter_project(prefix) == project


def test_narrowing_registry_verification_weakens_the_policy() -> None:
    base = load_policy(None)
    fewer = load_policy("registry_verification: {allowed_hosts: {remove: [gcr.io]}}\n")
    more = load_policy("registry_verification: {allowed_hosts: {add: [registry.example.com]}}\n")
    off = load_policy("registry_verification: {enabled: false}\n")
    assert [c.weakens for c in diff_policies(base, fewer)] == [True]
    assert [c.weakens for c in diff_policies(base, more)] == [False]
    assert [c.weakens for c in diff_policies(base, off)] == [True]


def test_manifest_source_with_another_fetcher_shares_the_cache() -> None:
    # The App keeps one source per process and reads GitHub through each job's client.
    calls: list[str] = []

    def first_job(path: str) -> str | None:
        calls.append(path)
        return ETCDADM_YAML

    def second_job(path: str) -> str | None:
        raise AssertionError("the parsed file is still cached")

    process = PromoterManifestSource(lambda path: None)
    assert process.with_fetch(first_job).lookup("k8s-staging-etcdadm", "etcd-manager", "v3.0.20220503").promoted
    assert process.with_fetch(second_job).lookup("k8s-staging-etcdadm", "etcd-manager", "v3.0.20220503").promoted
    assert calls == [IMAGES_YAML_PATH.format(project="k8s-staging-etcdadm")]


@pytest.mark.parametrize("host", ["registry.k8s.io", "gcr.io", "us-central1-docker.pkg.dev", "k8s.gcr.io"])
def test_default_allow_list_covers_the_kubernetes_registries(host: str) -> None:
    assert host_matches(host, load_policy(None).registry_verification.allowed_hosts)
    assert not host_matches("169.254.169.254", load_policy(None).registry_verification.allowed_hosts)
