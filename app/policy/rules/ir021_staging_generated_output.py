"""IR021 staging-generated-output: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.generated_output``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR021", "staging-generated-output", "warning",
    "Generated production output now holds a staging image",
    "Regenerated golden or expected-output files of production manifests gain a staging image that no "
    "hand-written line of the pull request adds: the change makes production select it indirectly (a deleted "
    "case falling through to a staging default, a template or values change). The finding sits on the source "
    "line that selects the image where the diff shows it.",
)

DOC = RuleDoc(
    severity="""\
warning, on every path (generated expected output lives under `tests/`, but it
is what production renders).""",
    table_severity="warning",
    table_outside="warning",
    text="""\
**What.** Generated files (`generated_paths`: golden and expected-output files) that existed before
gain a staging image that the pull request did not have before and that no hand-written line adds
(a new expected-output file of a new test shows what the code already did). The finding sits on
the hand-written line of the diff that names the image (an added or context line), else on the
removed line whose selection the change took away (a deleted `case`), else on the generated file.

**Why.** A change can make production run a staging image without writing it: deleting `case 24:`
lets Kubernetes 1.24 fall through to a `default:` that names `gcr.io/k8s-staging-...:latest`
(kops #13626). Only the regenerated output shows it, and [IR001](#ir001-staging-image) skips
generated files, so without this rule such a pull request passes clean.
""",
    bad=(
        "# commit: Use latest staging AWS CCM for k8s 1.24+\n"
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "@@ 97\n"
        "-        case 24:\n"
        "-            eccm.Image = \"registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0\"\n"
        "         default:\n"
        "             eccm.Image = \"gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest\"\n"
        "# commit: Run hack/update-expected.sh\n"
        "# file: tests/integration/update_cluster/minimal-1.24/data/aws_s3_object_cluster-completed.spec_content\n"
        "@@ 23\n"
        "-    image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0\n"
        "+    image: gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest\n"
    ),
    good=(
        "# commit: Use the v1.24.0 AWS CCM for k8s 1.24+\n"
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "@@ 97\n"
        "         case 24:\n"
        "-            eccm.Image = \"registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0\"\n"
        "+            eccm.Image = \"registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.0\"\n"
        "# commit: Run hack/update-expected.sh\n"
        "# file: tests/integration/update_cluster/minimal-1.24/data/aws_s3_object_cluster-completed.spec_content\n"
        "@@ 23\n"
        "-    image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.23.0-alpha.0\n"
        "+    image: registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.0\n"
    ),
    configure="""\
`generated_paths` (which files are output); `rules: {staging-generated-output: {...}}`;
exemptions as for IR001.
""",
)
