"""From drill evidence and the deployed settings to a :class:`Plan`. Pure.

A leaking service gets no memory sizing: any limit only decides when the kill comes. The
refusal names the leak, its slope and where to look (the drill's KP602/KP603 and the heap
profile), and the settings that do not depend on memory are still sized.
"""

from __future__ import annotations

from killproof.plan import goruntime, rollout, sizing
from killproof.plan.deployed import Deployed
from killproof.plan.evidence import DrillEvidence, LeakVerdict
from killproof.plan.model import Plan, Recommendation, Refusal, Setting, Strategy
from killproof.plan.units import mib


def _leak_text(leak: LeakVerdict) -> str:
    if leak.metric == "memory":
        rate = f"memory grows {mib(leak.slope_per_s)}/s at constant load"
    else:
        rate = f"goroutines grow {leak.slope_per_s:.1f}/s at constant load"
    if leak.seconds_to_limit is not None and leak.seconds_to_limit >= 1:
        rate += f", reaching the limit {leak.seconds_to_limit:.0f} s after the step"
    return rate


def refusal(ev: DrillEvidence) -> Refusal | None:
    """Why memory must not be sized from this drill, or None."""
    if not ev.leaks:
        return None
    reason = "; ".join(_leak_text(leak) for leak in ev.leaks)
    if ev.oom is not None:
        reason += f"; it was OOM-killed at {mib(ev.oom.limit_bytes)}"
    rules = [r for r in ev.findings if r in ("KP601", "KP602", "KP603")]
    pointer = f"the drill's {', '.join(rules)} finding" if rules else "the drill's leak section"
    if ev.oom is not None and ev.oom.top_site:
        pointer += f"; largest allocation site before the kill: {ev.oom.top_site}"
    if ev.pprof:
        pointer += f"; {ev.pprof}"
    return Refusal(reason, pointer)


def _refused(setting: Setting, current: str | None, why: Refusal) -> Recommendation:
    return Recommendation(
        setting,
        current,
        None,
        "refused: the service leaks",
        {"leak": why.reason},
        f"No limit holds a leak, it only sets when the kill comes: {why.reason}. "
        f"Fix the leak first (see {why.pointer}), then drill and plan again.",
    )


def recommend(
    ev: DrillEvidence,
    now: Deployed,
    strategy: Strategy = Strategy.KILLPROOF,
    target_rps: float | None = None,
    cpu_limit: bool = False,
) -> Plan:
    """Every recommendation for one container, in a fixed order."""
    refused = refusal(ev)
    recs: list[Recommendation] = []
    if refused is None:
        recs += sizing.memory(ev, now, strategy)
    else:
        recs += [
            _refused(Setting.MEMORY_REQUEST, sizing.memory_text(now.memory_request_bytes), refused),
            _refused(Setting.MEMORY_LIMIT, sizing.memory_text(now.memory_limit_bytes), refused),
        ]
    recs += sizing.cpu(ev, now, strategy, cpu_limit)
    by_setting = {r.setting: r for r in recs}
    recs.append(sizing.qos(by_setting, now))
    limit = by_setting[Setting.MEMORY_LIMIT].value
    if limit is not None:
        recs.append(goruntime.gomemlimit(ev, now, int(limit)))
    elif refused is not None:
        recs.append(_refused(Setting.GOMEMLIMIT, now.env.get("GOMEMLIMIT"), refused))
    recs.append(goruntime.gogc(now))
    cpu_lim = by_setting.get(Setting.CPU_LIMIT)
    cores = cpu_lim.value if cpu_lim is not None else now.cpu_limit_cores
    recs.append(goruntime.gomaxprocs(now, cores))
    stop = rollout.prestop(ev, now)
    if stop is not None:
        recs.append(stop)
    recs.append(rollout.grace(ev, now, stop.value if stop and stop.value is not None else 0.0))
    if target_rps is not None:
        recs += rollout.scale(ev, now, target_rps)
    return Plan(strategy, tuple(recs), refused)
