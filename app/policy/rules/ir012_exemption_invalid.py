"""IR012 exemption-invalid: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.exemptions``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR012", "exemption-invalid", "error",
    "Malformed exemption",
    "An exemption (inline comment or policy file entry) could not be read: it needs a known rule, an expiry "
    "date (until YYYY-MM-DD) and a tracking issue (tracked-by #N). It is not applied.",
    exemptable=False,
)

DOC = RuleDoc(
    severity="error. Cannot be exempted.",
    table_severity="error",
    table_outside="—",
    text="""\
**What.** An exemption could not be read: no rule or an unknown one, a missing or malformed
`until` date, a missing `tracked-by #N`, or (in the policy file) a missing `issue`/`expires`, or
neither `path` nor `reference`. It is reported where it is written and never applied.

**Why.** An exemption that silently does nothing is worse than none: the author believes the
finding is accepted.
""",
    bad=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    # image-review: allow staging-image until next-week\n"
        "+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
    ),
    good=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    # image-review: allow staging-image until 2026-02-28 tracked-by #13195 -- IPv6 fix not yet released\n"
        "+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
    ),
    configure="""\
nothing to configure; fix the exemption.
""",
)
