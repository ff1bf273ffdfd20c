"""Which image switches the two-step rules judge: the policy's ``two_step`` scope.

The two-step convention exists for the staging ↔ release switch: a component pointed at a staging
build during development goes back to the promoted release in a commit of its own, so that commit
can be reviewed, reverted and cherry-picked alone. An ordinary version bump that comes with its
related changes (a chart release, a builder image with its lint configuration) is normal practice.

* ``staging`` (default): a switch counts when it replaces a reference of the same image and the
  added reference, or the one it replaces, is a staging image by the policy's classes
  (staging → release, release → staging, staging → staging). A staging image added where no
  reference of it was (a new build variant) switches nothing: IR001 reports what it ships;
* ``all``: every production switch counts (the kops convention);
* ``off``: no switch counts, so IR010 and IR011 never fire.

The replaced reference is one the same commit removes from a hand-written production file and
that names the same image (the last component of its repository): a promotion moves
`gcr.io/k8s-staging-etcdadm/etcd-manager` to `registry.k8s.io/etcdadm/etcd-manager`, keeping the
image's name (a registry prefix replaces a registry prefix). Any such file counts, not only the
one the new reference is in: a commit may move the image's selection from a manifest template into
code.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.core.models import RefChange
from app.policy.context import RuleInput


def image_name(ref: RefChange) -> str:
    """The image's own name, the part a promotion keeps (``etcd-manager``); "" when unknown."""
    return (ref.repository or "").rsplit("/", 1)[-1].lower()


def judged_switch(inp: RuleInput, added: RefChange, removed: Iterable[RefChange]) -> bool:
    """Whether the switch to ``added`` (replacing one of the commit's ``removed`` references) is judged."""
    scope = inp.policy.two_step
    if scope == "off":
        return False
    if scope == "all":
        return True
    replaced = [r for r in removed if _same_image(added, r) and not r.in_comment]
    return any(inp.ref_class(r) == "staging" for r in [added, *replaced]) if replaced else False


def _same_image(a: RefChange, b: RefChange) -> bool:
    # A registry prefix (`gcr.io/k8s-staging-kops/` → `registry.k8s.io/kops/`) names a project, not
    # an image: one prefix replaces another.
    return (a.partial and b.partial) or image_name(a) == image_name(b)
