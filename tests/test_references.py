"""The reference grammar: parsing, normalization, and parse(format(ref)) == ref."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.classify import Classifier, default_classifier
from app.core.references import ImageRef, ReferenceError, parse

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python", "docker.io", "library/python", None, None),
        ("python:3.12-alpine", "docker.io", "library/python", "3.12-alpine", None),
        ("kopeio/etcd-manager:3.0.20210228", "docker.io", "kopeio/etcd-manager", "3.0.20210228", None),
        ("index.docker.io/library/golang:1.22", "docker.io", "library/golang", "1.22", None),
        ("docker.io/golang", "docker.io", "library/golang", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", None),
        ("127.0.0.1:5000/app@" + SHA, "127.0.0.1:5000", "app", None, SHA),
        ("[::1]:5000/app:dev", "[::1]:5000", "app", "dev", None),
        ("registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20241012", "registry.k8s.io",
         "etcd-manager/etcd-manager-slim", "v3.0.20241012", None),
        ("quay.io/cilium/cilium:v1.16.1@" + SHA, "quay.io", "cilium/cilium", "v1.16.1", SHA),
        ("k8s.gcr.io:v3", "docker.io", "library/k8s.gcr.io", "v3", None),
        ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
        ("a/b__c/d-e.f--g:TAG_1.x", "docker.io", "a/b__c/d-e.f--g", "TAG_1.x", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.raw == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("kopeio/Etcd", "lowercase"),
        ("docker.io/Library/golang", "lowercase"),
        ("app:-bad", "invalid tag"),
        ("app:" + "t" * 129, "invalid tag"),
        ("app@sha256:abc", "invalid digest"),
        ("app@sha256:" + "a" * 63, "64 hex"),
        ("app@md5", "invalid digest"),
        ("-app", "invalid repository"),
        ("a//b", "invalid repository"),
        ("https://gcr.io/x", "invalid"),
        ("bad_host.com:x/app", "invalid registry"),
        ("a/" + "b" * 260, "longer than"),
    ],
)
def test_rejects(text: str, reason: str) -> None:
    with pytest.raises(ReferenceError, match=reason):
        parse(text)


def test_other_registered_digest_algorithms() -> None:
    assert parse("app@sha512:" + "a" * 128).digest == "sha512:" + "a" * 128
    assert parse("app@sha384:" + "b" * 96).digest is not None
    assert parse("app@multihash+base58:" + "c" * 40).digest is not None  # unregistered: 32+ hex


def test_familiar_and_canonical() -> None:
    ref = parse("golang:1.22")
    assert ref.familiar() == "golang:1.22"
    assert ref.canonical() == "docker.io/library/golang:1.22"
    assert parse("docker.io/kopeio/etcd:1").familiar() == "kopeio/etcd:1"
    assert parse("quay.io/a/b@" + SHA).familiar() == "quay.io/a/b@" + SHA
    assert parse("index.docker.io/library/alpine") == parse("alpine")


# --- property tests -----------------------------------------------------------------------------

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alnum,
    st.lists(st.tuples(separator, alnum), max_size=2),
)
path = st.lists(component, min_size=1, max_size=4).map("/".join)
domain_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
host = st.one_of(
    st.lists(domain_label, min_size=2, max_size=4).map(".".join),
    st.just("localhost"),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.just("[::1]"),
    st.just("[2001:db8::5]"),
)
registry = st.one_of(host, st.tuples(host, st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"))
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
digest = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h),
    st.text("0123456789abcdef", min_size=128, max_size=128).map(lambda h: "sha512:" + h),
)


@st.composite
def refs(draw: st.DrawFn) -> ImageRef:
    reg = draw(registry)
    repo = draw(path)
    if reg == "docker.io" and "/" not in repo:
        repo = "library/" + repo
    return ImageRef(reg, repo, draw(st.none() | tag), draw(st.none() | digest))


@given(refs())
def test_parse_format_roundtrip(ref: ImageRef) -> None:
    assert parse(ref.canonical()) == ref
    assert parse(ref.familiar()) == ref


@given(path.filter(lambda p: "." not in p.split("/")[0] and p.split("/")[0] != "localhost"), st.none() | tag)
def test_docker_hub_names_normalize(repo: str, t: str | None) -> None:
    text = repo + (f":{t}" if t else "")
    ref = parse(text)
    assert ref.registry == "docker.io"
    assert parse(ref.canonical()) == ref


# --- classification --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gcr.io/k8s-staging-etcdadm/etcd-manager", "staging"),
        ("us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-slim", "staging"),
        ("staging-k8s.gcr.io/pause", "staging"),
        ("gcr.io/k8s-testimages/gcb-docker-gcloud", "staging"),
        ("gcr.io/my-staging-project/app", "staging"),
        ("registry.k8s.io/etcd-manager/etcd-manager-slim", "release"),
        ("k8s.gcr.io/pause", "release"),
        ("us.gcr.io/k8s-artifacts-prod/provider-aws/ccm", "release"),
        ("europe-west1-docker.pkg.dev/k8s-artifacts-prod/images/etcd-manager/x", "release"),
        ("gcr.io/google_containers/pause-amd64", "release"),
        ("docker.io/library/python", "other"),
        ("mirror.gcr.io/library/golang", "other"),
        ("quay.io/cilium/cilium", "other"),
        ("gcr.io/k8s/app", "other"),
    ],
)
def test_default_classes(name: str, expected: str) -> None:
    ref = parse(name)
    assert default_classifier().classify(ref.registry, ref.repository) == expected


def test_patterns_compare_components_not_prefixes() -> None:
    c = Classifier.from_patterns(["gcr.io/k8s"], ["registry.example.com/prod"])
    assert c.classify("gcr.io", "k8s/app") == "staging"
    assert c.classify("gcr.io", "k8s-staging-x/app") == "other"
    assert c.classify("registry.example.com", "production/app") == "other"
    assert c.classify(None, "app") == "other"
