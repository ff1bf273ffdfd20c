"""The rules: one module per rule (``irNNN_<name>``: metadata, docs, examples) and the families that find them.

Nothing is imported here, so ``app.policy.catalog`` can collect the rule modules without loading the
families (which import the catalog); the families are listed in ``app.policy.rules.families``.
"""
