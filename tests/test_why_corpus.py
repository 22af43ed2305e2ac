"""``killproof why`` on the real-world corpus (tests/corpus/why, issue 10), and the scorer itself.

The corpus is excerpts of kill evidence copied from public bug reports, forums and docs, each
with the events a kernel engineer reads in it. The score is printed by
``bench/why_corpus.py``; this test holds the line on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_BENCH = str(Path(__file__).resolve().parent.parent / "bench")
sys.path.insert(0, _BENCH)

import why_corpus as wc  # noqa: E402 - found through the path set just above
from killproof.facts.kill import Cause  # noqa: E402

sys.path.remove(_BENCH)  # only the scorer is wanted from bench/, not its other scripts

# Issue 10 asks for 95 %. 0.30 was the baseline measured before the parsers were fixed (47 of
# 156 cases fully right, bench/RESULTS.md "why on the real-world corpus"); with the kernel
# fixes and the Kubernetes/systemd/earlyoom/userspace/shell fixes, 154 of 156 are right
# (0.98 keeps a margin of one case). It never goes down.
MIN_RIGHT = 0.98
KINDS = {
    "kernel-pre4.19-global",
    "kernel-pre4.19-memcg",
    "kernel-4.19+-global",
    "kernel-4.19+-memcg",
    "kernel-partial",
    "kernel-noise",
    "k8s-describe",
    "k8s-get-pods",
    "k8s-status-fragment",
    "k8s-events",
    "systemd",
    "systemd-oomd",
    "earlyoom",
    "shell-go",
    "mixed",
    "docker",
    "userspace-other",
    "must-yield-nothing",
}
CASES = wc.load_cases()


def test_corpus_is_large_and_every_truth_is_well_formed() -> None:
    assert len(CASES) >= 150
    causes = {c.value for c in Cause}
    for case in CASES:
        assert case.kind in KINDS, case.id
        assert case.input.is_file(), case.id
        assert case.source.startswith("https://") or case.source.startswith("http://"), case.id
        assert (case.kind == "must-yield-nothing") == (not case.events), case.id
        for event in case.events:
            assert event.cause in causes, case.id
            assert (
                event.pid is None
                or event.pid is wc.UNCHECKED
                or (isinstance(event.pid, int) and event.pid > 0)
            ), case.id
            if event.pid is wc.UNCHECKED:
                assert event.unit is not None, case.id


def test_index_lists_every_case_with_its_source() -> None:
    index = (wc.CORPUS / "INDEX.md").read_text(encoding="utf-8")
    assert wc.index_table(CASES) in index, "run: bench/why_corpus.py --write-index"


def test_corpus_score_holds() -> None:
    outcomes = wc.score(CASES)
    crashes = [o for o in outcomes if o.verdict is wc.Verdict.CRASH]
    assert crashes == [], wc.failures(crashes)
    assert wc.accuracy(outcomes) >= MIN_RIGHT, wc.table(outcomes)


def _case(*events: wc.TruthEvent, kind: str = "kernel-partial") -> wc.Case:
    return wc.Case("c", kind, Path("c.log"), "https://example.org", "", (), events)


MEMCG_4187 = wc.TruthEvent("KERNEL_OOM_MEMCG", 4187, "orders", 262012, True)


def _got(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "cause": "KERNEL_OOM_MEMCG",
        "pid": 4187,
        "process": "orders",
        "anon_rss_kb": 262012,
        "killed": True,
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("got", "verdict", "diff"),
    [
        ([_got()], wc.Verdict.RIGHT, ()),
        ([_got(anon_rss_kb=4)], wc.Verdict.PARTIAL, ("anon_rss_kb 4 (want 262012)",)),
        ([_got(), _got(pid=9)], wc.Verdict.PARTIAL, ("extra event: KERNEL_OOM_MEMCG pid 9",)),
        ([_got(cause="KERNEL_OOM_UNKNOWN_SCOPE")], wc.Verdict.WRONG, ("cause KERNEL_OOM",)),
        ([_got(pid=4191)], wc.Verdict.WRONG, ("missing: KERNEL_OOM_MEMCG pid 4187",)),
        ([], wc.Verdict.WRONG, ("missing: KERNEL_OOM_MEMCG pid 4187",)),
    ],
)
def test_judge_compares_cause_victim_and_anon_rss(
    got: list[dict[str, object]], verdict: wc.Verdict, diff: tuple[str, ...]
) -> None:
    outcome = wc.judge(_case(MEMCG_4187), got, [])
    assert outcome.verdict is verdict
    for expected, line in zip(diff, outcome.diffs, strict=False):
        assert expected in line


def test_judge_reports_a_wrong_name_without_failing_the_case() -> None:
    outcome = wc.judge(_case(MEMCG_4187), [_got(process="orders-leak")], [])
    assert outcome.verdict is wc.Verdict.RIGHT
    assert outcome.process_diffs == ("KERNEL_OOM_MEMCG pid 4187: process 'orders-leak'",)


def test_judge_leaves_unknown_fields_unchecked() -> None:
    cut = wc.TruthEvent("KERNEL_OOM_MEMCG", None, None, wc.UNCHECKED, None)
    assert wc.judge(_case(cut), [_got(pid=None, killed=False)], []).verdict is wc.Verdict.RIGHT
    assert wc.judge(_case(cut), [_got()], []).verdict is wc.Verdict.WRONG


def test_must_yield_nothing_means_no_event_and_nothing_unrecognized() -> None:
    nothing = _case(kind="must-yield-nothing")
    assert wc.judge(nothing, [], []).verdict is wc.Verdict.RIGHT
    noisy = wc.judge(nothing, [], [{"path": "c.log", "line": 3, "text": "Killed"}])
    assert noisy.verdict is wc.Verdict.WRONG
    assert noisy.diffs == ("unrecognized line 3: Killed",)
    assert wc.judge(nothing, [_got()], []).verdict is wc.Verdict.WRONG


def test_a_crash_and_a_refusal_are_told_apart() -> None:
    from killproof.errors import InputError

    def crashes(path: Path) -> dict[str, object]:
        raise KeyError("pid")

    def refuses(path: Path) -> dict[str, object]:
        raise InputError("truncated JSON at line 4", str(path))

    assert wc.run_case(_case(MEMCG_4187), crashes).verdict is wc.Verdict.CRASH
    refused = wc.run_case(_case(MEMCG_4187), refuses)
    assert refused.verdict is wc.Verdict.WRONG
    assert "refused" in refused.diffs[0]
