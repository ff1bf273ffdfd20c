"""Interpret one candidate value (the text of a key, flag or string literal) as an image reference.

Handles what real repositories write around references: quotes, template placeholders
(``{{ .Version }}``, ``${TAG}``, ``%v``, ``{ARCH}``), Go-template defaults, prefixes that code
completes (``"registry.k8s.io/kops/dns-controller:" + tag``), and the look-alikes that are not
images (URLs, file paths, ``host:port``, times, e-mails, cloud VM images).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.references import DIGEST_HEX_LENGTHS, ImageRef, split_domain, try_parse

# Registries that make a bare "host/path" (no tag) an image reference by themselves.
KNOWN_REGISTRY_SUFFIXES = (
    "gcr.io",
    "registry.k8s.io",
    "quay.io",
    "docker.io",
    "ghcr.io",
    "public.ecr.aws",
    "pkg.dev",
    "mcr.microsoft.com",
    "registry.gitlab.com",
    "azurecr.io",
    "nvcr.io",
    "registry.redhat.io",
    "registry.access.redhat.com",
    "registry.suse.com",
    "cgr.dev",
)

_PLACEHOLDER = re.compile(
    r"\{\{.*?\}\}"  # Go / Helm templates
    r"|\$\{[^}]*\}"  # ${VAR}
    r"|\$\([^)]*\)"  # $(VAR) in Makefiles
    r"|\$[A-Za-z_][A-Za-z0-9_]*"  # $VAR
    r"|%[-+# 0]*\d*[vsdq]"  # printf verbs
    r"|\{[A-Za-z_][A-Za-z0-9_]*\}"  # {ARCH}, Python str.format
    r"|\{\d*\}"  # Python "{}".format
    r"|\{\{(?!.*\}\}).*$"  # a template action that continues on the next line: "repo:{{ or .Version"
)
_GO_TEMPLATE_DEFAULT = re.compile(r"^\{\{-?\s*if\b.*?\}\}.*?\{\{-?\s*else\s*-?\}\}(?P<ref>.*?)\{\{-?\s*end\s*-?\}\}$")
_MASK = "tplx{}x"
_MASKED = re.compile(r"tplx\d+x")
_URL_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_TIME_LIKE = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_HOST_PORT = re.compile(r"^[\w.-]+:\d{1,5}$")
# A version number or count is never a repository name ("image: 1.30.0", "image: 12345").
_NUMBER = re.compile(r"^v?\d+(?:[._-]\d+)*$")
# "NoSchedule", "PassRole", "Instance": taint effects, IAM actions and SDK enums after a colon.
# Image tags are versions, dates or lower-case words; a capitalised word with no digit is a name.
_WORD_TAG = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]*)*$")


@dataclass(frozen=True, slots=True)
class Interpretation:
    """What a value says about an image: its literal parts, or None where templated."""

    text: str  # the reference as written (quotes and template conditionals removed)
    registry: str | None
    repository: str | None
    tag: str | None
    digest: str | None
    templated: bool
    partial: bool
    registry_implicit: bool
    # The masked repository (placeholders replaced), for classification only.
    class_repository: str | None

    @property
    def explicit_registry(self) -> bool:
        return self.registry is not None and not self.registry_implicit


_DOCKER_HUB_HOSTS = {"index.docker.io", "registry-1.docker.io", "registry.docker.io", "mirror.docker.io"}


def is_known_registry(host: str | None) -> bool:
    if not host:
        return False
    host = host.lower().split(":", 1)[0]
    if ".dkr.ecr." in host and host.endswith(".amazonaws.com"):
        return True
    if host.endswith(".docker.io"):
        # Docker Hub serves images from these alone; desktop.docker.io/... are Docker Desktop label keys.
        return host in _DOCKER_HUB_HOSTS
    return any(host == s or host.endswith("." + s) for s in KNOWN_REGISTRY_SUFFIXES)


def strip_quotes(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1].strip()
    return value


def interpret(value: str) -> Interpretation | None:
    """Return the reference a value holds, or None when it is not one (or entirely a placeholder)."""
    text = strip_quotes(value)
    match = _GO_TEMPLATE_DEFAULT.match(text)
    if match:
        text = match.group("ref").strip()
    if not text or len(text) > 400 or any(c.isspace() for c in _PLACEHOLDER.sub("", text)):
        return None
    if _URL_SCHEME.search(text) or _TIME_LIKE.match(text) or "@" in text.split("@sha", 1)[0]:
        return None
    masked, count = _mask(text)
    if count and not _MASKED.sub("", masked).strip("/:.-_@"):
        return None  # entirely placeholder: the value is decided elsewhere
    partial = masked.endswith(("/", ":"))
    core = masked.rstrip("/:") if partial else masked
    if partial and "/" not in core and ":" in masked[:-1]:
        return None
    ref = try_parse(core)
    if ref is None or _not_an_image(ref) or (partial and _label_key(ref)):
        return None
    return _describe(text, ref, core, templated=count > 0, partial=partial or _namespace_only(ref))


# Registries whose images sit below a namespace: gcr.io/<project>/<image>, quay.io/<org>/<image>,
# <region>-docker.pkg.dev/<project>/<repository>/<image>. Fewer components and no tag is where images
# live (gcr.io/k8s-staging-kind), a prefix. (k8s.gcr.io and mirror.gcr.io serve single names.)
_NAMESPACED = {"gcr.io": 2, "us.gcr.io": 2, "eu.gcr.io": 2, "asia.gcr.io": 2, "quay.io": 2, "ghcr.io": 2}


def _namespace_only(ref: ImageRef) -> bool:
    if ref.tag is not None or ref.digest is not None or ref.registry_implicit:
        return False
    host = ref.registry.lower()
    need = _NAMESPACED.get(host, 3 if host.endswith("-docker.pkg.dev") else 0)
    return ref.repository.count("/") + 1 < need


# Domains of Kubernetes label, annotation and taint keys (app.kubernetes.io/name, helm.sh/chart,
# cluster.x-k8s.io/cluster-name): a prefix "host/name:" there is a key and its colon. Only prefixes:
# kops writes complete references under kops.k8s.io/remapped-image/ on purpose.
_LABEL_DOMAINS = ("kubernetes.io", "k8s.io", "helm.sh", "openshift.io")


def _label_key(ref: ImageRef) -> bool:
    host = ref.registry.lower()
    return not ref.registry_implicit and not is_known_registry(host) and any(
        host == d or host.endswith(("." + d, "-" + d)) for d in _LABEL_DOMAINS)


def _not_an_image(ref: ImageRef) -> bool:
    last = ref.repository.rsplit("/", 1)[-1]
    if ref.registry_implicit and ref.repository.removeprefix("library/") in DIGEST_HEX_LENGTHS:
        return True  # "sha256:<hex>": a digest on its own (Helm digest values, README tables of them)
    return bool(_NUMBER.match(last) and ref.registry_implicit and "/" not in ref.repository.removeprefix(
        "library/")) or (ref.tag is not None and _WORD_TAG.match(ref.tag) is not None)


def _mask(text: str) -> tuple[str, int]:
    count = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _MASK.format(count)

    return _PLACEHOLDER.sub(repl, text), count


def _describe(text: str, ref: ImageRef, core: str, *, templated: bool, partial: bool) -> Interpretation:
    domain, _ = split_domain(core)
    registry: str | None = ref.registry
    implicit = ref.registry_implicit
    repository: str | None = ref.repository
    if templated and "/" in core and domain is None and _MASKED.search(core.split("/", 1)[0]):
        # "{{ .Registry }}/cilium/cilium": the first component is a templated host.
        registry, implicit = None, False
        repository = core.split("/", 1)[1].split(":", 1)[0].split("@", 1)[0]
    tag, digest = ref.tag, ref.digest
    class_repo = repository
    if templated:
        registry = None if registry and _MASKED.search(registry) else registry
        repository = None if repository and _MASKED.search(repository) else repository
        tag = None if tag and _MASKED.search(tag) else tag
    return Interpretation(text, registry, repository, tag, digest, templated, partial, implicit, class_repo)


def looks_like_host_port(text: str) -> bool:
    return bool(_HOST_PORT.match(text))
