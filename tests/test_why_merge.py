"""Merging observations of one death, and keeping different deaths apart."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.model import Evidence
from killproof.rules.kill import explain
from killproof.why.merge import merge

KERNEL = KillEvent(
    cause=Cause.KERNEL_OOM_MEMCG,
    source="kernel",
    pid=24649,
    process="orders-leak",
    anon_rss_kb=64896,
    file_rss_kb=6284,
    limit_kb=65536,
    usage_kb=65536,
    oom_memcg="/orders",
    task_memcg="/orders",
    limit_scope=LimitScope.OWN,
    invoker_pid=24653,
    evidence=(Evidence("Memory cgroup out of memory: Killed process 24649", "k.log", 80),),
)
SHELL = KillEvent(
    cause=Cause.SIGKILL_UNKNOWN,
    source="shell",
    signal="SIGKILL",
    exit_code=137,
    evidence=(Evidence("Killed", "run.log", 3),),
)
POD = KillEvent(
    cause=Cause.K8S_OOMKILLED,
    source="k8s-pod",
    namespace="shop",
    pod="orders-7d9f",
    container="orders",
    exit_code=137,
    reason="OOMKilled",
    evidence=(Evidence('"reason": "OOMKilled"', "pod.json", 12),),
)


def test_kernel_pod_and_shell_of_one_death_become_one_event() -> None:
    [event] = merge([SHELL, POD, KERNEL])
    assert event.cause is Cause.KERNEL_OOM_MEMCG
    assert event.pid == 24649
    assert event.process == "orders-leak"
    assert (event.pod, event.container, event.exit_code) == ("orders-7d9f", "orders", 137)
    assert event.limit_kb == 65536
    assert event.source.split("+") == ["kernel", "k8s-pod", "shell"]
    assert [(e.path, e.line) for e in event.evidence] == [
        ("k.log", 80),
        ("pod.json", 12),
        ("run.log", 3),
    ]


def test_two_kernel_kills_with_different_pids_stay_apart_and_shell_line_is_not_guessed() -> None:
    other = KERNEL.with_changes(
        pid=30001, evidence=(Evidence("Killed process 30001", "k.log", 200),)
    )
    events = merge([KERNEL, other, SHELL])
    assert sorted((e.cause.value, e.pid) for e in events) == [
        ("KERNEL_OOM_MEMCG", 24649),
        ("KERNEL_OOM_MEMCG", 30001),
        ("SIGKILL_UNKNOWN", None),
    ]


def test_the_same_kernel_record_from_dmesg_and_journal_is_one_event() -> None:
    journal = KERNEL.with_changes(
        host="web1", evidence=(Evidence("kernel: Memory cgroup out of memory", "j.log", 7),)
    )
    [event] = merge([KERNEL, journal])
    assert event.host == "web1"
    assert len(event.evidence) == 2


def test_a_pod_oomkilled_never_merges_with_a_liveness_kill() -> None:
    liveness = KillEvent(
        cause=Cause.K8S_LIVENESS_KILL,
        source="k8s-events",
        pod="orders-7d9f",
        container="orders",
        evidence=(Evidence("Container orders failed liveness probe", "ev.txt", 3),),
    )
    events = merge([liveness, POD])
    assert sorted(e.cause.value for e in events) == ["K8S_LIVENESS_KILL", "K8S_OOMKILLED"]


def test_pod_names_tie_a_weak_observation_to_the_right_death() -> None:
    other_pod = POD.with_changes(pod="billing-1", container="billing", evidence=())
    kernel_b = KERNEL.with_changes(
        pid=777,
        process="billing",
        task_memcg="/kubepods/burstable/podabc/billing-1",
        oom_memcg="/kubepods/burstable/podabc/billing-1",
        evidence=(Evidence("Killed process 777 (billing)", "k.log", 300),),
    )
    events = merge([KERNEL, kernel_b, other_pod])
    by_pid = {e.pid: e for e in events}
    assert by_pid[777].pod == "billing-1"
    assert by_pid[24649].pod is None


def test_explanation_names_the_victim_the_limit_and_not_the_invoker() -> None:
    verdict = explain(KERNEL)
    assert "orders-leak (pid 24649)" in verdict.explanation
    assert "64.0 MiB" in verdict.explanation
    assert "24653" in verdict.explanation and "not the victim" in verdict.explanation
    assert any("GOMEMLIMIT=57MiB" in s for s in verdict.next_steps)


def test_ancestor_limit_is_called_the_pods_limit() -> None:
    pod_limit = KERNEL.with_changes(
        oom_memcg="/kubepods/pod-demo",
        task_memcg="/kubepods/pod-demo/app",
        limit_scope=LimitScope.ANCESTOR,
    )
    text = explain(pod_limit).explanation
    assert "the pod's limit, not the container's" in text
    assert "/kubepods/pod-demo/app" in text


def test_unknown_sender_lists_what_to_collect_and_does_not_guess() -> None:
    verdict = explain(SHELL)
    assert "does not guess" in verdict.explanation
    assert any("dmesg" in s for s in verdict.next_steps)
    assert any("kubectl get pod" in s for s in verdict.next_steps)
