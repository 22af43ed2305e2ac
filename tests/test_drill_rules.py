"""KP6xx rules: every bad example fires its own rule, every good example fires none."""

from __future__ import annotations

import pytest

from killproof.drill.scenario import parse_scenario
from killproof.rules.base import DOC_SECTIONS, Rule
from killproof.rules.drill import RULES

IDS = [r.id for r in RULES]


def test_catalog_is_kp601_to_kp610_sorted() -> None:
    assert [f"KP6{n:02d}" for n in range(1, 11)] == IDS
    assert [r.name for r in RULES] == [
        "oom-killed",
        "memory-leak",
        "goroutine-leak",
        "shutdown-overran-grace",
        "requests-dropped-on-shutdown",
        "exit-code-nonzero-on-sigterm",
        "sigterm-ignored",
        "slow-start",
        "slo-missed-below-target-rate",
        "memory-thrash-at-limit",
    ]


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_docs_have_every_section(rule: Rule[object]) -> None:
    sections = rule.docs.sections()
    for title in DOC_SECTIONS:
        assert sections[title].strip(), f"{rule.id} lacks {title}"
    assert rule.family == "drill"


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_bad_example_fires_only_its_rule(rule: Rule[object]) -> None:
    (example,) = rule.bad
    result = parse_scenario(example.source, f"{rule.id}.bad")
    fired = {f.rule for r in RULES for f in r.check(result)}
    assert rule.id in fired
    own = list(rule.check(result))
    assert len(own) == 1
    assert own[0].message


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_good_example_fires_nothing(rule: Rule[object]) -> None:
    (example,) = rule.good
    result = parse_scenario(example.source, f"{rule.id}.good")
    assert [f.rule for r in RULES for f in r.check(result)] == []


def test_oom_finding_points_at_the_allocation_site_of_the_pre_kill_profile() -> None:
    result = parse_scenario(
        "limit 64Mi\nstep 200/s 5s\n"
        "profile 2s step0-end main.warm /src/main.go:10 9Mi\n"
        "profile 3.5s memory-80pct main.remember /src/main.go:21 41Mi\n"
        "profile 9s after main.late /src/main.go:40 1Mi\n"
        "oom 4.1s cgroup-events\n"
    )
    (finding,) = RULES[0].check(result)
    assert (finding.location.path, finding.location.line) == ("/src/main.go", 21)
    assert "main.remember" in finding.message
    assert "memory-80pct" in finding.message


def test_sigterm_ignored_and_overran_are_exclusive() -> None:
    ignored = parse_scenario("grace 2s\nshutdown SIGTERM exit-after=none ok=5\n")
    overran = parse_scenario(
        "grace 2s\nshutdown SIGTERM exit-after=none ready-failed=0.1s ok=5\n"
        "dump main.flushQueue /src/main.go:22\n"
    )
    fired = {name: {f.rule for r in RULES for f in r.check(res)} for name, res in
             (("ignored", ignored), ("overran", overran))}  # fmt: skip
    assert fired == {"ignored": {"KP607"}, "overran": {"KP604"}}
    (f604,) = RULES[3].check(overran)
    assert (f604.location.path, f604.location.line) == ("/src/main.go", 22)


def test_slo_miss_in_the_step_that_was_killed_is_left_to_kp601() -> None:
    result = parse_scenario(
        "step 200/s 5s p99=20ms\nstep 400/s 5s p99=2000ms stopped=yes\noom 8s cgroup-events\n"
    )
    assert list(RULES[8].check(result)) == []


def test_slo_miss_above_target_is_not_a_finding() -> None:
    result = parse_scenario("target-rate 200\nstep 200/s 5s p99=20ms\nstep 400/s 5s p99=900ms\n")
    assert list(RULES[8].check(result)) == []


def test_never_ready_is_an_error() -> None:
    result = parse_scenario('startup never "process ended before it was ready (exit status 1)"\n')
    (finding,) = RULES[7].check(result)
    assert finding.severity.value == "error"
    assert "exit status 1" in finding.message
