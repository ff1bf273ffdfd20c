"""IR013 exemption-expired: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.exemptions``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR013", "exemption-expired", "error",
    "Exemption expired or its tracking issue is closed",
    "An exemption would accept a finding, but its expiry date has passed or its tracking issue is closed.",
    exemptable=False,
)

DOC = RuleDoc(
    severity="error. Cannot be exempted.",
    table_severity="error",
    table_outside="—",
    text="""\
**What.** An exemption matches a finding, but its date has passed or its tracking issue is closed.
The finding keeps its own severity, and this error names the exemption.

**Why.** Exceptions are temporary by design: when the promotion happened (issue closed) or the date
passed, the code should move to the release image.
""",
    bad=(
        "# today: 2026-03-01\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    # image-review: allow staging-image until 2026-02-28 tracked-by #13195\n"
        "+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
    ),
    good=(
        "# today: 2026-02-01\n"
        "# issue #13195: open\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    # image-review: allow staging-image until 2026-02-28 tracked-by #13195\n"
        "+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
    ),
    configure="""\
renew the exemption (new date, open issue) or fix the finding.
""",
)
