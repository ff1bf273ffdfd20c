"""The policy file: defaults, validation errors (key path + line), merging, mappings."""

from __future__ import annotations

import textwrap
from datetime import date

import pytest

from app.core.classify import default_policy_data
from app.policy import PolicyError, default_policy, load_policy, parse_policy_strict
from app.policy.catalog import ALL_RULES, BY_CODE
from app.policy.config import DEFAULTS_SOURCE, RuleConfig
from app.policy.mappings import Mappings, mappings_from_staging_map


def issues_of(text: str) -> list[tuple[str, int | None, str]]:
    policy = load_policy(textwrap.dedent(text))
    return [(i.key, i.line, i.message) for i in policy.issues]


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_load_without_issues() -> None:
    p = default_policy()
    assert p.issues == ()
    assert p.source is None
    assert load_policy(None) is p


def test_defaults_are_the_kubernetes_conventions() -> None:
    p = default_policy()
    c = p.classifier
    assert c.classify("gcr.io", "k8s-staging-etcdadm/etcd-manager") == "staging"
    assert c.classify("us-central1-docker.pkg.dev", "k8s-staging-images/etcd-manager/etcd-manager-slim") == "staging"
    assert c.classify("registry.k8s.io", "etcdadm/etcd-manager") == "release"
    assert c.classify("docker.io", "library/python") == "other"
    assert p.deprecated_registries["k8s.gcr.io"] == "registry.k8s.io"
    assert p.deprecated_registries["gcr.io/google_containers"] == "registry.k8s.io"
    assert not p.require_digest
    assert p.review_drafts
    assert p.labels.staging_image == "do-not-merge/staging-image"
    assert "latest" in p.mutable_tags and "master" in p.mutable_tags
    assert p.registry_verification.enabled and not p.registry_verification.cli
    assert p.critical_images == {}


def test_classify_still_reads_the_two_location_keys() -> None:
    data = default_policy_data()
    assert data["staging_locations"] == list(default_policy().staging_locations)
    assert data["release_locations"] == list(default_policy().release_locations)


@pytest.mark.parametrize(
    ("path", "production"),
    [
        ("pkg/model/components/etcdmanager/model.go", True),
        ("upup/models/cloudup/resources/addons/x/k8s-1.18.yaml.template", True),
        ("cmd/kops/create_cluster.go", True),
        ("images/dns-controller/Dockerfile", True),
        ("tests/integration/update_cluster/minimal/data/aws_s3_object_x_content", False),
        ("nodeup/pkg/model/tests/golden/minimal/tasks-kube-proxy.yaml", False),
        ("pkg/model/components/image_test.go", False),
        ("tests/e2e/scenarios/bare-metal/run-test", False),
        ("cloudbuild.yaml", False),
        (".github/workflows/e2e.yml", False),
        ("docs/advisories/cve.md", False),
        ("addons/ingress-nginx/README.md", False),
        ("hack/cfn-lint.Dockerfile", False),
        ("Makefile", False),
        ("vendor/k8s.io/x/y.go", False),
    ],
)
def test_default_production_paths(path: str, production: bool) -> None:
    assert default_policy().is_production(path) is production


@pytest.mark.parametrize(
    ("path", "generated"),
    [
        ("tests/integration/update_cluster/minimal/data/aws_s3_object_manifests-etcdmanager-main_content", True),
        ("tests/integration/update_cluster/minimal/kubernetes.tf", True),
        ("tests/integration/update_cluster/minimal/in-v1alpha2.yaml", False),  # a hand-written input
        ("pkg/apis/kops/v1alpha2/zz_generated.conversion.go", True),
        ("pkg/openapi/openapi_generated.go", True),
        ("pkg/model/components/etcdmanager/tests/minimal/tasks.yaml", True),
        ("pkg/model/components/etcdmanager/tests/minimal/cluster.yaml", False),
        ("pkg/model/components/etcdmanager/model.go", False),
        ("some/dir/file_content", False),  # no suffix rule: only the kops output directories
        ("tests/e2e/manifests/expected-output.yaml", True),
        ("test/fixtures/expected_deployment.yaml", True),
        ("pkg/render/testdata/deployment.yaml", True),
        ("charts/aws-load-balancer-controller/README.md", True),
        ("charts/aws-load-balancer-controller/values.yaml", False),  # the source helm-docs reads
        ("docs/install.md", False),
    ],
)
def test_default_generated_paths(path: str, generated: bool) -> None:
    assert default_policy().is_generated(path) is generated


# --- mappings ------------------------------------------------------------------------------------


def test_default_mappings_follow_the_staging_map() -> None:
    m = default_policy().mapper
    assert m.release_name("gcr.io/k8s-staging-etcdadm/etcd-manager") == "registry.k8s.io/etcdadm/etcd-manager"
    assert (
        m.release_name("us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-slim")
        == "registry.k8s.io/etcd-manager/etcd-manager-slim"
    )
    assert m.release_name("gcr.io/k8s-staging-kubernetes/pause") == "registry.k8s.io/pause"  # root level
    assert m.release_name("gcr.io/k8s-staging-etcd/etcd") == "registry.k8s.io/etcd"
    assert m.release_name("gcr.io/k8s-staging-sp-operator/x") == "registry.k8s.io/security-profiles-operator/x"
    assert (
        m.release_name("gcr.io/k8s-staging-cloud-provider-gcp/cloud-controller-manager")
        == "registry.k8s.io/cloud-provider-gcp/cloud-controller-manager"
    )
    # Whole components only: k8s-staging-etcd must not capture k8s-staging-etcdadm.
    assert m.release_location("gcr.io/k8s-staging-etcdadm") == "registry.k8s.io/etcdadm"
    assert m.release_name("gcr.io/k8s-staging-ci-images/kube-apiserver") is None  # never promoted
    assert m.release_name("gcr.io/etcd-development/etcd") is None  # an upstream source, not staging


def test_mappings_from_a_small_map() -> None:
    data = {
        "mapped_projects": [
            {"staging": ["gcr.io/k8s-staging-a", "x.pkg.dev/k8s-staging-images/a"],
             "release": ["k8s.gcr.io/a", "registry.k8s.io/a"], "root_level": False},
            {"staging": ["gcr.io/k8s-staging-k"], "release": ["registry.k8s.io", "registry.k8s.io/kubernetes"],
             "root_level": True},
            {"staging": ["gcr.io/k8s-staging-none"], "release": ["k8s.gcr.io/none"]},
        ]
    }
    pairs = mappings_from_staging_map(data)
    assert pairs == {
        "gcr.io/k8s-staging-a": "registry.k8s.io/a",
        "x.pkg.dev/k8s-staging-images/a": "registry.k8s.io/a",
        "gcr.io/k8s-staging-k": "registry.k8s.io",
    }
    assert Mappings.of(pairs).release_name("gcr.io/k8s-staging-a") is None  # a project is not an image


def test_policy_mappings_merge_over_defaults() -> None:
    p = load_policy("mappings:\n  quay.io/acme-dev: quay.io/acme\n  gcr.io/k8s-staging-etcdadm: null\n")
    assert p.issues == ()
    assert p.mapper.release_name("quay.io/acme-dev/tool") == "quay.io/acme/tool"
    assert p.mapper.release_name("gcr.io/k8s-staging-etcdadm/etcd-manager") is None
    assert p.mapper.release_name("gcr.io/k8s-staging-sig-storage/snapshot-controller") is not None


def test_staging_map_copy_keeps_its_source_note() -> None:
    from importlib import resources

    head = resources.files("app").joinpath("data/k8s-staging-map.yaml").read_text(encoding="utf-8")[:600]
    assert "Source repo : https://github.com/kubernetes/k8s.io" in head


# --- validation: every error names the key path and the line --------------------------------------


def test_unknown_top_level_key_with_did_you_mean() -> None:
    assert issues_of("""\
        version: 1
        staging_location:
          - gcr.io/x
    """) == [("staging_location", 2, "unknown key; did you mean 'staging_locations'?")]


def test_unknown_nested_key() -> None:
    issues = issues_of("""\
        rules:
          staging-image:
            severty: warning
    """)
    assert issues == [("rules.staging-image.severty", 3, "unknown key; did you mean 'severity'?")]


def test_unknown_rule_name() -> None:
    [(key, line, message)] = issues_of("rules:\n  stagin-image: {enabled: false}\n")
    assert (key, line) == ("rules.stagin-image", 2)
    assert "unknown rule" in message and "'staging-image'" in message


def test_bad_severity_names_value_and_choices() -> None:
    [(key, line, message)] = issues_of("rules:\n  IR001:\n    severity: fatal\n")
    assert (key, line) == ("rules.IR001.severity", 3)
    assert "error, warning, notice" in message and "'fatal'" in message


def test_wrong_types() -> None:
    issues = issues_of("""\
        require_digest: "yes"
        staging_locations: gcr.io/x
        critical_images:
          etcd-manager*: []
        registry_verification:
          timeout_seconds: -1
    """)
    assert [(k, line) for k, line, _ in issues] == [
        ("staging_locations", 2),
        ('critical_images["etcd-manager*"]', 4),
        ("require_digest", 1),
        ("registry_verification.timeout_seconds", 6),
    ]
    assert "must be a list" in issues[0][2]
    assert "true or false" in issues[2][2]


def test_bad_regex_and_owner_and_location() -> None:
    issues = issues_of("""\
        dev_tag_patterns:
          nightly: '(unclosed'
        policy_owners: ["not a login"]
        staging_locations: ["https://gcr.io/x"]
    """)
    keys = {(k, line) for k, line, _ in issues}
    assert keys == {("dev_tag_patterns.nightly", 2), ("policy_owners[0]", 3), ("staging_locations[0]", 4)}


def test_reserved_tag_kind() -> None:
    [(key, line, message)] = issues_of("dev_tag_patterns:\n  version: 'x'\n")
    assert (key, line) == ("dev_tag_patterns.version", 2) and "built-in" in message


def test_duplicate_keys_are_reported() -> None:
    [(key, line, message)] = issues_of("require_digest: true\nrequire_digest: false\n")
    assert (key, line) == ("require_digest", 2) and "duplicate" in message and "line 1" in message


def test_yaml_syntax_error_has_a_line() -> None:
    [(key, line, message)] = issues_of("rules:\n  IR001: {severity: error\nversion: 1\n")
    assert key == "" and line is not None and line >= 2 and "invalid YAML" in message


def test_not_a_mapping() -> None:
    [(key, line, message)] = issues_of("- a\n- b\n")
    assert key == "" and line == 1 and "mapping" in message


def test_unsupported_version() -> None:
    [(key, line, _)] = issues_of("version: 2\n")
    assert (key, line) == ("version", 1)


def test_remove_of_an_item_not_in_defaults() -> None:
    [(key, line, message)] = issues_of("mutable_tags:\n  remove:\n    - lates\n")
    assert (key, line) == ("mutable_tags.remove", 3)
    assert "'latest'" in message


def test_issue_str_names_file_line_and_key() -> None:
    policy = load_policy("rules:\n  IR001: {severity: fatal}\n")
    assert str(policy.issues[0]).startswith(".github/image-review.yml:2: rules.IR001.severity: must be one of")


def test_invalid_entry_keeps_the_default() -> None:
    p = load_policy("require_digest: maybe\nstaging_locations: 3\n")
    assert not p.require_digest
    assert p.staging_locations == default_policy().staging_locations


def test_parse_policy_strict_raises_with_every_issue() -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy_strict("bogus: 1\nrules: {IR999: off}\n")
    assert len(exc.value.issues) == 2
    assert ".github/image-review.yml:1: bogus" in str(exc.value)


def test_empty_file_is_the_defaults() -> None:
    p = load_policy("")
    assert p.issues == () and p.staging_locations == default_policy().staging_locations


# --- merging -------------------------------------------------------------------------------------


def test_list_replaces_or_edits_defaults() -> None:
    replaced = load_policy("staging_allowed_paths: [tests]\n")
    assert replaced.staging_allowed_paths == ("tests",)
    edited = load_policy("staging_allowed_paths: {add: [/examples], remove: [Makefile]}\n")
    assert "/examples" in edited.staging_allowed_paths
    assert "Makefile" not in edited.staging_allowed_paths
    assert "tests" in edited.staging_allowed_paths


def test_rule_settings_and_shorthands() -> None:
    p = load_policy(textwrap.dedent("""\
        rules:
          staging-image: warning
          IR004: off
          mutable-tag: {outside_production: notice}
          version-downgrade: false
    """))
    assert p.issues == ()
    assert p.rule(BY_CODE["IR001"]).severity == "warning"
    assert not p.rule(BY_CODE["IR004"]).enabled
    assert not p.rule(BY_CODE["IR009"]).enabled
    mutable = p.rule(BY_CODE["IR002"])
    assert mutable.outside_production == "notice"
    # Merged per field: the default ignore_paths of mutable-tag survive.
    assert mutable.ignore_paths.matches("docs/x.yaml")
    assert p.rules["IR002"] == RuleConfig(None, None, "notice", ("/docs", "*.md"))


def test_rule_configured_twice_by_code_and_name() -> None:
    [(key, line, message)] = issues_of("rules:\n  IR001: warning\n  staging-image: error\n")
    assert (key, line) == ("rules.staging-image", 3) and "twice" in message


def test_every_rule_has_defaults_resolvable() -> None:
    p = default_policy()
    for meta in ALL_RULES:
        resolved = p.rule(meta)
        assert resolved.enabled and resolved.severity == meta.severity


def test_labels_and_verification() -> None:
    p = load_policy("labels: {staging_image: null, error: needs-work}\nregistry_verification: {cli: true}\n")
    assert p.issues == ()
    assert p.labels.staging_image is None and p.labels.error == "needs-work"
    assert p.registry_verification.cli and p.registry_verification.enabled


def test_critical_images_and_owners_normalized() -> None:
    p = load_policy("critical_images:\n  etcd-manager*: [justinsb, '@kubernetes/kops']\n")
    assert p.critical_images == {"etcd-manager*": ("@justinsb", "@kubernetes/kops")}


# --- policy-file exemptions ------------------------------------------------------------------------


def test_policy_exemption_valid() -> None:
    p = load_policy(textwrap.dedent("""\
        exemptions:
          - rule: staging-image
            path: "pkg/model/**"
            reference: "gcr.io/k8s-staging-etcdadm/*"
            issue: "#1234"
            expires: 2026-12-31
            reason: waiting for promotion
    """))
    assert p.issues == ()
    [ex] = p.exemptions
    assert ex.rules == ("IR001",) and ex.issue == 1234 and ex.expires == date(2026, 12, 31)
    assert ex.line == 2 and ex.key == "exemptions[0]"
    assert "exemptions[0] in .github/image-review.yml:2" in ex.describe()


@pytest.mark.parametrize(
    ("entry", "key", "needle"),
    [
        ("{rule: staging-image, path: x, issue: 1}", "exemptions[0]", "missing 'expires'"),
        ("{rule: staging-image, path: x, expires: 2026-01-01}", "exemptions[0]", "missing 'issue'"),
        ("{rule: staging-image, path: x, issue: 1, expires: soon}", "exemptions[0].expires", "YYYY-MM-DD"),
        ("{rule: staging-image, path: x, issue: abc, expires: 2026-01-01}", "exemptions[0].issue", "issue number"),
        ("{rule: stagingimage, path: x, issue: 1, expires: 2026-01-01}", "exemptions[0].rule", "unknown rule"),
        ("{rule: IR014, path: x, issue: 1, expires: 2026-01-01}", "exemptions[0].rule", "cannot be exempted"),
        ("{rule: IR001, issue: 1, expires: 2026-01-01}", "exemptions[0]", "'path' or 'reference'"),
        ("{path: x, issue: 1, expires: 2026-01-01}", "exemptions[0]", "missing 'rule'"),
        ("{rule: IR001, path: x, issue: 1, expires: 2026-01-01, ticket: 3}", "exemptions[0].ticket", "unknown key"),
    ],
)
def test_policy_exemption_malformed(entry: str, key: str, needle: str) -> None:
    p = load_policy(f"exemptions:\n  - {entry}\n")
    assert p.exemptions == ()  # never applied
    assert [(i.key, i.line) for i in p.issues] == [(key, 2)]
    assert needle in p.issues[0].message


def test_default_policy_source_name_in_errors() -> None:
    assert DEFAULTS_SOURCE.endswith("default-policy.yaml")
