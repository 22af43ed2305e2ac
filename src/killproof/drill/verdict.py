"""A drill's result → the report: findings (KP6xx), verdict, JSON sections, summary table.

Pure: reads a :class:`DrillResult`, returns a :class:`Report`. The JSON keys
(``verdict``, ``oom``, ``leak``, ``capacity``, ``shutdown``, ``samples``, ``profiles``) are
the contract other commands (``plan``, the HTML report) read.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from killproof.analysis.leak import LeakMetric
from killproof.facts.drill import DrillResult, HeapProfile
from killproof.model import Finding, Measurement, Report, Severity, Skipped, Table
from killproof.rules import engine
from killproof.rules.drill import RULES, judge
from killproof.rules.drill.common import secs
from killproof.sources.deploy.quantity import format_bytes, mib


def crashed_during_load(result: DrillResult) -> bool:
    """The service became ready, then died during the load of something that is not an
    OOM kill (a panic, a fatal error, a log.Fatal): no KP6xx rule names it, the drill fails."""
    return result.ready and result.exit is not None and result.oom is None


def findings(result: DrillResult) -> tuple[list[Finding], list[Skipped]]:
    """Every KP6xx finding for this drill, and a skipped entry for each rule that failed."""
    return engine.run(RULES, result, subject="drill verdict")


def _oom_section(result: DrillResult) -> dict[str, Any] | None:
    oom = result.oom
    if oom is None:
        return None
    before = [p for p in result.profiles if p.t_s <= oom.t_s and p.top]
    profile = before[-1] if before else None
    return {
        "killed": True,
        "t_s": round(oom.t_s, 3),
        "source": oom.source,
        "limit_bytes": oom.limit_bytes,
        "memory_bytes": oom.memory_bytes,
        "evidence": list(oom.evidence),
        "kernel": list(result.kernel_events),
        "profile": profile.path if profile else None,
        "top_sites": [
            {"function": s.function, "file": s.file, "line": s.line, "inuse_bytes": s.inuse_bytes}
            for s in (profile.top if profile else ())
        ],
    }


def online_leak_section(result: DrillResult) -> dict[str, Any] | None:
    """When the online judge first flagged the leak, and how long before the OOM kill."""
    flag = result.leak_flag
    if flag is None:
        return None
    out: dict[str, Any] = {
        "first_flagged_s": round(flag.t_s, 3),
        "memory_bytes": round(flag.memory_bytes),
        "slope_per_s": round(flag.slope_per_s, 1),
        "confidence": round(flag.confidence, 4),
        "projected_seconds_to_limit": (
            None if flag.seconds_to_limit is None else round(flag.seconds_to_limit, 3)
        ),
        "withdrawn_at_s": None if flag.withdrawn_at_s is None else round(flag.withdrawn_at_s, 3),
        "load_start_s": None if flag.load_start_s is None else round(flag.load_start_s, 3),
        "seconds_before_oom": None,
        "fraction_of_time_left": None,
    }
    oom = result.oom
    if oom is not None and oom.t_s >= flag.t_s:
        out["seconds_before_oom"] = round(oom.t_s - flag.t_s, 3)
        start = flag.load_start_s
        if start is not None and oom.t_s > start:
            out["fraction_of_time_left"] = round((oom.t_s - flag.t_s) / (oom.t_s - start), 3)
    return out


def _capacity_section(result: DrillResult) -> dict[str, Any]:
    cap = judge.drill_capacity(result)
    out: dict[str, Any] = cap.to_json()
    out["load_steps"] = [
        {**s.to_json(), "peak_memory_bytes": judge.peak_memory(result, s.index)}
        for s in result.steps
    ]
    return out


def _summary_table(result: DrillResult) -> Table:
    lim = result.limits
    cap = judge.drill_capacity(result)
    held = {v.index: ("yes" if v.held else f"no: {v.reason}") for v in cap.steps}
    rows = [
        (
            str(s.index + 1),
            f"{s.rate_asked_rps:g}/s",
            f"{s.rate_achieved_rps:.0f}/s",
            f"{s.p50_ms:.1f}",
            f"{s.p99_ms:.1f}",
            str(s.error_count),
            mib(judge.peak_memory(result, s.index), "-"),
            held.get(s.index, "no: the service died or thrashed in this step"),
        )
        for s in result.steps
    ]
    return Table(
        title=f"Load steps (limit {format_bytes(lim.memory_bytes)}, SLO {cap.slo})",
        columns=(
            "step",
            "rate",
            "achieved",
            "p50 ms",
            "p99 ms",
            "errors",
            "peak memory",
            "held SLO",
        ),
        rows=tuple(rows),
    )


def cited_profile(result: DrillResult) -> HeapProfile | None:
    """The heap profile to open first: the last one before the OOM kill, else the last one
    taken (a leak shows best at the end)."""
    readable = [p for p in result.profiles if not p.error]
    if result.oom is not None:
        before = [p for p in readable if p.t_s <= result.oom.t_s and p.top]
        if before:
            return before[-1]
    return readable[-1] if readable else None


def _request_text(result: DrillResult) -> str:
    if not result.request:
        return ""
    origin = result.request_origin
    return f"{result.request} (from {origin})" if origin else result.request


def _command_text(result: DrillResult, metadata: dict[str, Any]) -> str:
    """The command drilled; for ``drill PATH``, the binary built from PATH (as given), or
    only where it came from when the temporary work dir it was built in is gone."""
    command = " ".join(result.command)
    built_from = metadata.get("built_from")
    if not built_from:
        return command
    if not metadata.get("work_dir"):
        return f"go build of {built_from} (the binary is removed after the drill)"
    return f"{command} (go build of {built_from})"


def _drill_table(result: DrillResult, metadata: dict[str, Any]) -> Table:
    rows: list[tuple[str, str]] = [
        ("command", _command_text(result, metadata)),
        ("sandbox", result.sandbox.value),
        ("memory limit", format_bytes(result.limits.memory_bytes)),
        (
            "startup",
            secs(result.startup_s) if result.startup_s is not None else result.startup_error,
        ),
    ]
    if result.request:
        rows.append(("request", _request_text(result)))
    rows += [(k, str(metadata[k])) for k in ("env", "work_dir") if metadata.get(k)]
    profile = cited_profile(result)
    if profile is not None:
        folder = PurePath(profile.path).parent
        count = len(result.profiles)
        rows.append(
            ("heap profiles", f"{count} heap profile{'s' if count != 1 else ''} in {folder}")
        )
        rows.append(("read one", f"go tool pprof -top {profile.path}"))
    online = online_leak_section(result)
    if online is not None:
        said = f"at {secs(online['first_flagged_s'])}"
        if online["seconds_before_oom"] is not None:
            said += f", {secs(online['seconds_before_oom'])} before the OOM kill"
        if online["fraction_of_time_left"] is not None:
            said += f" ({online['fraction_of_time_left']:.0%} of the load's time to it left)"
        if online["withdrawn_at_s"] is not None:
            said += f"; withdrawn at {secs(online['withdrawn_at_s'])} (growth levelled off)"
        rows.append(("leak flagged", said))
    rows += [("note", n) for n in result.notes]
    return Table("Drill", ("", ""), tuple(rows))


def _shutdown_table(result: DrillResult) -> Table | None:
    t = result.shutdown
    if t is None:
        return None

    def at(v: float | None) -> str:
        return "-" if v is None else f"+{v:.2f} s"

    rows = (
        ("signal", t.signal),
        ("readiness failed", at(t.readiness_failed_after_s)),
        ("listener closed", at(t.listener_closed_after_s)),
        ("exited", f"{at(t.exit_after_s)} ({t.exit.describe() if t.exit else 'no'})"),
        ("within grace", f"{'yes' if t.within_grace else 'no'} (grace {t.grace_s:g} s)"),
        (
            "requests after signal",
            f"{t.ok_after_signal} ok, {t.failed_after_signal} failed, "
            f"{t.refused_after_signal} refused after close ({t.clients} clients)",
        ),
        (
            "SIGQUIT/SIGKILL",
            f"{'sent' if t.sigquit_sent else '-'}/{'sent' if t.sigkill_sent else '-'}",
        ),
    )
    return Table("Shutdown test", ("", ""), rows)


def build_report(result: DrillResult, metadata: dict[str, Any] | None = None) -> Report:
    """The drill's report: findings, verdict, JSON sections, tables and measurements."""
    found, rule_skips = findings(result)
    crashed = crashed_during_load(result)
    failed = crashed or any(f.severity is Severity.ERROR for f in found)
    leak = judge.memory_leak(result)
    goroutines = judge.goroutine_leak(result)
    name = PurePath(result.command[0]).name if result.command else "service"
    # Rule order is cause before symptom: oom-killed (KP601) before memory-leak (KP602).
    names = list(dict.fromkeys(f.name for f in found if f.severity is Severity.ERROR))
    if crashed and result.exit is not None:
        names.insert(0, f"exited during the load ({result.exit.describe()})")
    headline = ", ".join(names)
    verdict_word = "FAIL" if failed else "PASS"
    if result.interrupted:
        verdict_word = f"INTERRUPTED (partial result, so far {verdict_word.lower()})"
    summary = (
        f"drill {verdict_word}: {name} at "
        f"{format_bytes(result.limits.memory_bytes)} ({result.sandbox.value})"
        + (f": {headline}" if headline else "")
    )
    skipped: list[Skipped] = list(rule_skips)
    if result.shutdown is None:
        if result.interrupted:
            why = "the drill was interrupted"
        elif not result.ready:
            why = "the service never became ready"
        elif result.exit is not None:
            why = "the service did not survive the load"
        elif result.thrash_detected_at_s is not None:
            why = "the service was thrashing at its memory limit"
        else:
            why = "not requested (--no-shutdown-test)"
        skipped.append(Skipped("shutdown test", why))
    if result.sandbox.is_emulated:
        skipped.append(Skipped("kernel memory limit", "emulated by an RSS watchdog (no cgroup)"))
    measurements: list[Measurement] = []
    if result.startup_s is not None:
        measurements.append(Measurement("startup", round(result.startup_s, 3), "seconds"))
    peak = judge.peak_memory(result)
    if peak is not None:
        measurements.append(Measurement("peak memory", peak, "bytes"))
    cap = judge.drill_capacity(result)
    if cap.held_rate_rps is not None:
        measurements.append(Measurement("max rate held", cap.held_rate_rps, "requests/s"))
    if cap.memory_per_rps_bytes is not None:
        measurements.append(
            Measurement("memory per req/s", round(cap.memory_per_rps_bytes), "bytes")
        )
    if result.shutdown is not None and result.shutdown.exit_after_s is not None:
        measurements.append(
            Measurement("time to exit", round(result.shutdown.exit_after_s, 3), "seconds")
        )
    cited = cited_profile(result)
    tables = [_drill_table(result, metadata or {})]
    if result.steps:
        tables.append(_summary_table(result))
    shutdown_table = _shutdown_table(result)
    if shutdown_table is not None:
        tables.append(shutdown_table)
    sections: dict[str, Any] = {
        "verdict": "fail" if failed else "pass",
        "interrupted": result.interrupted,
        "request": {"sent": result.request, "origin": result.request_origin},
        "sandbox": result.sandbox.value,
        "notes": list(result.notes),
        "limits": {
            "memory_bytes": result.limits.memory_bytes,
            "grace_s": result.limits.grace_s,
            "max_startup_s": result.limits.max_startup_s,
        },
        "startup": {
            "ready": result.ready,
            "startup_s": result.startup_s,
            "error": result.startup_error,
            "exit": None if result.exit is None else result.exit.describe(),
        },
        "oom": _oom_section(result),
        "leak": {
            "memory": leak.to_json() if leak else None,
            "online": online_leak_section(result),
            "goroutines": goroutines.to_json() if goroutines else None,
            "memory_steps": [t.to_json() for t in judge.trends(result, LeakMetric.MEMORY)],
            "goroutine_steps": [t.to_json() for t in judge.trends(result, LeakMetric.GOROUTINES)],
        },
        "thrash": None
        if result.thrash_detected_at_s is None
        else {"detected_at_s": round(result.thrash_detected_at_s, 3)},
        "capacity": _capacity_section(result),
        "shutdown": None if result.shutdown is None else result.shutdown.to_json(),
        "samples": [s.to_json() for s in result.samples],
        "profiles": [p.to_json() for p in result.profiles],
        "pprof": None if cited is None else f"go tool pprof -top {cited.path}",
    }
    return Report(
        command="drill",
        findings=tuple(found),
        skipped=tuple(skipped),
        measurements=tuple(measurements),
        sections=sections,
        metadata={"command": list(result.command), **(metadata or {})},
        summary=summary,
        tables=tuple(tables),
    )
