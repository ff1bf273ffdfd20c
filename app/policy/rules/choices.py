"""What a pull request chose, and which references are pulled: shared by the tag rules.

* ``kept``: the added reference keeps a tag (and digest) the file already had for the same image —
  a registry rename (``k8s.gcr.io`` → ``registry.k8s.io``) or a re-indent, not a new choice. Tag
  rules judge what the pull request chose; the tag it kept is the previous author's decision.
* ``pulled``: a container runtime pulls the reference as written. A repository named to list its
  tags, a push or registry prefix (``REGISTRY=``, ``KO_DOCKER_REPO``, ``ImageRepository:``), or a
  bare repository in code whose tag is joined on elsewhere is not pulled as written, so it does not
  "pull latest".
"""

from __future__ import annotations

import re
from collections import defaultdict

from app.core.models import RefChange
from app.policy.context import RuleInput
from app.policy.images import identity

# Lines that name a repository to list, push to, or prefix — never to pull it as written.
_NOT_PULLED = re.compile(
    r"NewRepository\(|ListTags|list-tags|\b(g?crane)\s+(ls|cp|copy|push|tag)\b|/tags/list|"
    r"\b(docker|podman|buildah)\s+(push|tag)\b|--destination\b|--repo(sitory)?[= ]|--image-repository\b|"
    r"\b\w*(REGISTRY|_REPO|REPOSITORY|KO_DOCKER_REPO)\w*\s*[:?+]?=|"
    r"\b[Ii]mage[_-]?[Rr]epository\b|\b[Rr]egistry\s*[:=]|\b(push|staging|prod)[_-]?(registry|repo)\b",
    re.IGNORECASE,
)
# Contexts where a reference without a tag is pulled as `latest`: an image field, FROM, a flag, a split
# image written out; a code string or variable may get its tag joined on later.
_PULL_CONTEXTS = frozenset({"yaml-image", "yaml-split", "dockerfile-from", "dockerfile-arg", "dockerfile-copy-from",
                            "flag", "kustomize", "starlark-split"})
_PULL_COMMAND = re.compile(r"\b(docker|podman|nerdctl|crictl|ctr)\b.*\b(pull|run|create)\b|kubectl\s+run\b|"
                           r"--image[= ]|\bFROM\s|^\s*-?\s*[\"']?image[\"']?\s*:(?!=)", re.IGNORECASE)


def pulled(inp: RuleInput, ref: RefChange, *, untagged: bool) -> bool:
    """Whether a runtime pulls ``ref`` as written (``untagged``: it has neither tag nor digest)."""
    text = inp.lines.text(ref.path, ref.line, ref.side) or ""
    if _NOT_PULLED.search(text) and not _PULL_COMMAND.search(text):
        return False
    if untagged:
        return ref.context in _PULL_CONTEXTS or bool(_PULL_COMMAND.search(text))
    return True


class KeptTags:
    """The (image, tag, digest) triples the pull request removes, per file: what was there before."""

    def __init__(self, inp: RuleInput) -> None:
        self._inp = inp
        old_path_of = {f.new_path: f.old_path for f in inp.files if f.new_path and f.old_path}
        self._old_path_of = old_path_of
        self._removed: dict[str, set[tuple[str | None, str | None, str | None]]] = defaultdict(set)
        for r in inp.refs:
            if r.side == "removed":
                self._removed[r.path].add((identity(inp.policy, r.name), r.tag, r.digest))

    def kept(self, ref: RefChange) -> bool:
        old_path = self._old_path_of.get(ref.path, ref.path)
        key = (identity(self._inp.policy, ref.name), ref.tag, ref.digest)
        return key[0] is not None and key in self._removed.get(old_path, set())
