"""Hostile policy files: oversized, alias bombs, deep nesting and catastrophic regexes.

Each is reported as one policy problem (IR016 policy-invalid downstream) while the defaults apply,
quickly and without a traceback.
"""

from __future__ import annotations

import time

import pytest

from app.policy import default_policy, load_policy
from app.policy.regexsafety import UnsafeRegex, check_regex
from app.policy.tags import TagRules
from app.policy.yamlbounds import MAX_DEPTH, MAX_POLICY_BYTES


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"mutable_tags: *a{levels}")
    return "\n".join(lines) + "\n"


def timed_load(text: str) -> tuple[float, list[str]]:
    start = time.perf_counter()
    policy = load_policy(text)
    elapsed = time.perf_counter() - start
    assert policy.mutable_tags == default_policy().mutable_tags  # the defaults still apply
    return elapsed, [str(i) for i in policy.issues]


def test_alias_bomb_is_one_issue_and_fast() -> None:
    elapsed, issues = timed_load(alias_bomb())
    assert len(issues) == 1
    assert "aliases" in issues[0]
    assert elapsed < 1.0


def test_few_aliases_expanding_hugely_are_refused() -> None:
    # Under the alias-count limit, but each level multiplies the size by 50.
    lines = ["a0: &a0 [" + ",".join(["x"] * 50) + "]"]
    for i in range(1, 5):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 50) + "]")
    elapsed, issues = timed_load("\n".join(lines) + "\n")
    assert len(issues) == 1 and "expand to more than" in issues[0]
    assert elapsed < 1.0


def test_ordinary_aliases_still_work() -> None:
    policy = load_policy("x-common: &tags [latest, edge]\nmutable_tags: *tags\n")
    assert [i for i in policy.issues if "x-common" not in i.key] == []
    assert policy.mutable_tags == ("latest", "edge")


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_deep_flow_nesting_is_one_issue(opener: str, closer: str) -> None:
    text = "mutable_tags: " + opener * 5000 + "x" + closer * 5000 + "\n"
    elapsed, issues = timed_load(text)
    assert len(issues) == 1 and f"nesting deeper than {MAX_DEPTH}" in issues[0]
    assert elapsed < 1.0


def test_deep_block_nesting_is_one_issue() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n"
    _, issues = timed_load(text)
    assert len(issues) == 1 and "nesting deeper" in issues[0] and "line" in issues[0]


def test_oversized_file_is_one_issue() -> None:
    text = "# padding\n" * (MAX_POLICY_BYTES // 10 + 1) + "mutable_tags: [latest]\n"
    elapsed, issues = timed_load(text)
    assert len(issues) == 1 and "limit is" in issues[0]
    assert elapsed < 1.0


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+$", r"(a|a)*$", r"(a|ab)*c", r"(\w+\s?)*$", r"(x+x+)+y", r"(.*a){20}", r".*.*.*.*x", r"(a)\1"],
)
def test_catastrophic_dev_tag_patterns_are_refused(pattern: str) -> None:
    text = f"dev_tag_patterns:\n  nightly:\n    - '{pattern}'\n"
    policy = load_policy(text)
    assert len(policy.issues) == 1
    assert policy.issues[0].key == "dev_tag_patterns.nightly[0]"
    assert "regular expression" in policy.issues[0].message
    assert "nightly" not in policy.dev_tag_patterns


@pytest.mark.parametrize(
    "pattern",
    [r"^v\d+\.\d+\.\d+-.*$", r"-\d+-g[0-9a-f]{7,40}(-dirty)?$", r"^(alpha|beta|rc)\d*$", r"^nightly-\d{8}$"],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    check_regex(pattern)
    policy = load_policy(f"dev_tag_patterns:\n  nightly:\n    - '{pattern}'\n")
    assert policy.issues == ()


def test_default_patterns_pass_the_check() -> None:
    for patterns in default_policy().dev_tag_patterns.values():
        for p in patterns:
            check_regex(p)


def test_unsafe_regex_error_names_the_construct() -> None:
    with pytest.raises(UnsafeRegex, match="nested quantifiers"):
        check_regex(r"(a+)+$")


def test_dev_patterns_only_see_tag_sized_text() -> None:
    # A pattern that is polynomial but accepted still meets at most a tag's length of input.
    rules = TagRules.build([], {"slow": [r"^(a|b)?[ab]*[ab]*[ab]*c"]})
    start = time.perf_counter()
    assert rules.kind("a" * 1_000_000) != "slow"
    assert time.perf_counter() - start < 2.0


def test_path_glob_with_too_many_wildcards_is_refused() -> None:
    glob = "*a" * 30 + "b"
    policy = load_policy(f"generated_paths: ['{glob}']\n")
    assert len(policy.issues) == 1 and "too complex" in policy.issues[0].message
    assert glob not in policy.generated_paths


def test_ordinary_path_globs_are_accepted() -> None:
    policy = load_policy("generated_paths: ['deploy/**/*.yaml', 'charts/*/values*.yaml']\n")
    assert policy.issues == ()
