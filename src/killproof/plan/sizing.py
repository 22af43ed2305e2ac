"""Memory and CPU requests and limits, by strategy. Pure.

Formulas and constants are those of the tools users already trust (see
/work/shared/reference/load-sizing-leaks-shutdown.md §2):

- krr ``simple``: memory request = limit = peak × 1.15, rounded up to 1 MiB, at least
  ``--mem-min`` 100 MiB; CPU request = p95, at least 10m, no CPU limit. OOM kills are
  ignored by default (``use_oomkill_data = False``).
- VPA recommender: target = percentile × (1 + 0.15); memory p90 of per-interval peaks
  (one 24 h interval per drill report), CPU p90 of samples; at least 250 MiB and 25m;
  after an OOM kill ``used = max(request, peak)`` becomes ``max(used + 100 MiB, used × 1.2)``;
  the limit keeps the current limit/request ratio (``controlledValues: RequestsAndLimits``).
- killproof: memory request = limit = (peak, or VPA's OOM bump) × 1.15 / 0.9, so the
  peak plus the 15 % margin stays under GOMEMLIMIT at 90 % of the limit (automemlimit's
  default, the GC guide's 5-10 % headroom); CPU request = p95 × 1.15.

Units: bytes, cores.
"""

from __future__ import annotations

from killproof.plan.deployed import Deployed
from killproof.plan.evidence import DrillEvidence
from killproof.plan.model import Recommendation, Setting, Strategy
from killproof.plan.units import (
    MI,
    ceil_mi,
    ceil_milli,
    cpu_quantity,
    memory_quantity,
    mib,
    percentile,
)

MARGIN = 0.15
"""krr's ``memory_buffer_percentage`` and VPA's ``SafetyMarginFraction``."""
GO_SHARE = 0.9
"""automemlimit's default ratio: GOMEMLIMIT at 90 % of the container limit."""
OOM_MIN_BUMP = 100 * MI
OOM_BUMP_RATIO = 1.2
KRR_MEM_MIN = 100 * MI
VPA_MEM_MIN = 250 * MI
KRR_CPU_MIN = 0.010
VPA_CPU_MIN = 0.025
CPU_LIMIT_FACTOR = 1.5
"""killproof's CPU limit (only with ``--cpu-limit``): the busiest 1 s window × 1.5."""


def memory_text(n: int | None) -> str | None:
    return None if n is None else memory_quantity(n)


def _cpu(c: float | None) -> str | None:
    return None if c is None else cpu_quantity(c)


def oom_bump(used: int) -> int:
    """VPA's ``RecordOOM``: ``max(used + 100 MiB, used × 1.2)``, bytes."""
    return max(used + OOM_MIN_BUMP, round(used * OOM_BUMP_RATIO))


def memory(ev: DrillEvidence, now: Deployed, strategy: Strategy) -> tuple[Recommendation, ...]:
    """Memory request and limit (two recommendations, request first)."""
    peak = ev.peak_bytes
    inputs: dict[str, object] = {
        "peak_bytes": peak,
        "memory_source": f"{ev.memory_source} ({'cgroup usage' if ev.memory_source == 'cgroup' else 'RSS: no cgroup'})",
        "margin": MARGIN,
    }
    if ev.heap_at_peak_bytes is not None:
        inputs["heap_at_peak_bytes"] = ev.heap_at_peak_bytes
        inputs["heap_share"] = round(ev.heap_at_peak_bytes / peak, 3) if peak else None
    oom_note = ""
    if ev.oom is not None:
        inputs["oom_limit_bytes"] = ev.oom.limit_bytes
        inputs["oom_memory_bytes"] = ev.oom.memory_bytes
    if strategy is Strategy.KRR:
        limit = max(ceil_mi(peak * (1 + MARGIN)), KRR_MEM_MIN)
        formula = "request = limit = max(ceil_Mi(peak × 1.15), 100Mi)"
        inputs["mem_min_bytes"] = KRR_MEM_MIN
        if ev.oom is not None:
            oom_note = (" krr ignores OOM kills by default (use_oomkill_data = False); the "
                        "peak here is capped by the limit it was killed at.")  # fmt: skip
        request = limit
        why = f"krr simple: the peak {mib(peak)} plus 15 %, request equal to the limit."
    elif strategy is Strategy.VPA:
        p90 = int(percentile(ev.report_peaks_bytes, 90))
        inputs["p90_of_report_peaks_bytes"] = p90
        inputs["reports"] = len(ev.report_peaks_bytes)
        inputs["pod_min_memory_bytes"] = VPA_MEM_MIN
        basis = p90
        formula = "request = max(ceil_Mi(p90(peaks) × 1.15), 250Mi)"
        if ev.oom is not None:
            used = max(now.memory_request_bytes or 0, ev.peak_bytes, ev.oom.memory_bytes or 0)
            bumped = oom_bump(used)
            inputs["oom_used_bytes"] = used
            inputs["oom_bumped_bytes"] = bumped
            basis = max(basis, bumped)
            formula = ("used = max(request, peak); bumped = max(used + 100Mi, used × 1.2); "
                       "request = max(ceil_Mi(max(p90(peaks), bumped) × 1.15), 250Mi)")  # fmt: skip
        request = max(ceil_mi(basis * (1 + MARGIN)), VPA_MEM_MIN)
        ratio = None
        if now.memory_limit_bytes and now.memory_request_bytes:
            ratio = now.memory_limit_bytes / now.memory_request_bytes
        inputs["limit_request_ratio"] = ratio
        limit = ceil_mi(request * ratio) if ratio else request
        formula += "; limit = request × current limit/request" if ratio else "; limit = request"
        why = ("VPA: the 90th percentile of the per-interval peaks (each drill report is one "
               "interval) plus its 15 % safety margin, never below its 250 MiB pod minimum; "
               "the limit keeps the current ratio to the request.")  # fmt: skip
    else:
        basis = peak
        formula = "request = limit = ceil_Mi(peak × 1.15 / 0.9)"
        capped = ev.oom is not None or ev.thrashed
        if capped:
            at_kill = (ev.oom.memory_bytes or 0, ev.oom.limit_bytes) if ev.oom else (0, 0)
            used = max(ev.peak_bytes, *at_kill, ev.limit_bytes if ev.thrashed else 0)
            basis = oom_bump(used)
            inputs["oom_used_bytes"] = used
            inputs["oom_bumped_bytes"] = basis
            formula = ("used = max(peak, usage and limit at the kill or thrash); "
                       "need = max(used + 100Mi, used × 1.2); "
                       "request = limit = ceil_Mi(need × 1.15 / 0.9)")  # fmt: skip
            how = (f"It was OOM-killed at {mib(ev.oom.limit_bytes)}" if ev.oom else
                   f"It thrashed at its {mib(ev.limit_bytes)} limit")  # fmt: skip
            oom_note = (f" {how}, so the true peak is unknown: VPA's OOM bump "
                        f"({mib(used)} → {mib(basis)}) stands in for it; drill again at the new "
                        "limit to measure it.")  # fmt: skip
        inputs["go_share"] = GO_SHARE
        limit = ceil_mi(basis * (1 + MARGIN) / GO_SHARE)
        request = limit
        why = (f"The {'bumped ' if capped else 'measured '}peak {mib(basis)} of "
               f"{ev.memory_source} usage (what the kernel compares with the limit) plus the "
               "15 % margin krr and VPA use, kept under GOMEMLIMIT at 90 % of the limit so the "
               "GC does not run hot at the peak. Memory is not compressible: the request equals "
               "the limit, so the node never promises this memory to another pod.")  # fmt: skip
    squeezed = ev.drill_gomemlimit_bytes
    if squeezed and peak >= 0.95 * squeezed:
        inputs["drill_gomemlimit_bytes"] = squeezed
        why += (f" The peak reached {100 * peak / squeezed:.0f} % of the GOMEMLIMIT the drill "
                f"ran with ({mib(squeezed)}): the GC held the heap down there, so the demand "
                "may be higher; drill with a higher GOMEMLIMIT to see it.")  # fmt: skip
    if ev.heap_at_peak_bytes is not None and peak:
        why += (f" The heap was {mib(ev.heap_at_peak_bytes)} "
                f"({100 * ev.heap_at_peak_bytes / peak:.0f} %) of the peak.")  # fmt: skip
    why += oom_note
    if ev.held_rate_rps:
        why += (f" It holds for up to the {ev.held_rate_rps:g} req/s per instance the drill "
                "ran: more load per pod needs a new drill (or more replicas).")  # fmt: skip
    return (
        Recommendation(
            Setting.MEMORY_REQUEST,
            memory_text(now.memory_request_bytes),
            memory_quantity(request),
            formula,
            inputs,
            why,
            float(request),
        ),
        Recommendation(
            Setting.MEMORY_LIMIT,
            memory_text(now.memory_limit_bytes),
            memory_quantity(limit),
            formula,
            inputs,
            why,
            float(limit),
        ),
    )


def cpu(
    ev: DrillEvidence, now: Deployed, strategy: Strategy, want_limit: bool
) -> tuple[Recommendation, ...]:
    """CPU request, and a CPU limit only when asked (``--cpu-limit``)."""
    if not ev.cpu_cores:
        why = ("The drill report has no CPU samples (reports made before killproof sampled "
               "CPU time have none): drill again to size CPU.")  # fmt: skip
        out = [Recommendation(Setting.CPU_REQUEST, _cpu(now.cpu_request_cores), None,
                              "not measured", {}, why)]  # fmt: skip
        return tuple(out)
    cores = ev.cpu_cores
    p95, p90, busiest = percentile(cores, 95), percentile(cores, 90), max(cores)
    inputs: dict[str, object] = {
        "cpu_p95_cores": round(p95, 4),
        "cpu_p90_cores": round(p90, 4),
        "cpu_max_cores": round(busiest, 4),
        "windows": len(cores),
    }
    if strategy is Strategy.KRR:
        request = max(ceil_milli(p95), KRR_CPU_MIN)
        formula = "request = max(ceil_m(p95), 10m); no limit"
        why = "krr simple: the 95th percentile of CPU use, no margin, no CPU limit."
    elif strategy is Strategy.VPA:
        request = max(ceil_milli(p90 * (1 + MARGIN)), VPA_CPU_MIN)
        formula = "request = max(ceil_m(p90 × 1.15), 25m)"
        why = "VPA: the 90th percentile of CPU use plus its 15 % safety margin, at least 25m."
    else:
        request = max(ceil_milli(p95 * (1 + MARGIN)), KRR_CPU_MIN)
        formula = "request = max(ceil_m(p95 × 1.15), 10m)"
        why = ("The 95th percentile of CPU use over 1 s windows under load, plus 15 %. CPU is "
               "compressible: a busy node slows the service down but does not kill it.")  # fmt: skip
    out = [
        Recommendation(
            Setting.CPU_REQUEST,
            _cpu(now.cpu_request_cores),
            cpu_quantity(request),
            formula,
            inputs,
            why,
            request,
        )
    ]
    if want_limit:
        limit = max(ceil_milli(busiest * CPU_LIMIT_FACTOR), request)
        out.append(
            Recommendation(
                Setting.CPU_LIMIT,
                _cpu(now.cpu_limit_cores),
                cpu_quantity(limit),
                "limit = max(ceil_m(max 1 s window × 1.5), request)",
                inputs,
                "Asked for with --cpu-limit. A throttled Go process stops until the next "
                "100 ms CFS period; the busiest second × 1.5 leaves room for GC bursts, which "
                "are shorter than a second and do not show in 1 s averages.",
                limit,
            )
        )
    return tuple(out)


def qos(recs: dict[Setting, Recommendation], now: Deployed) -> Recommendation:
    """The QoS class the recommended (else current) requests and limits give."""

    def pick(setting: Setting) -> str | None:
        r = recs.get(setting)
        return r.recommended if r is not None and r.recommended is not None else None

    def current(setting: Setting) -> str | None:
        values = {
            Setting.MEMORY_REQUEST: memory_text(now.memory_request_bytes),
            Setting.MEMORY_LIMIT: memory_text(now.memory_limit_bytes),
            Setting.CPU_REQUEST: _cpu(now.cpu_request_cores),
            Setting.CPU_LIMIT: _cpu(now.cpu_limit_cores),
        }
        return values[setting]

    def klass(get: dict[Setting, str | None]) -> str:
        mem_req = get[Setting.MEMORY_REQUEST] or get[Setting.MEMORY_LIMIT]
        cpu_req = get[Setting.CPU_REQUEST] or get[Setting.CPU_LIMIT]
        if not any(get.values()):
            return "BestEffort"
        guaranteed = (
            get[Setting.MEMORY_LIMIT] is not None
            and get[Setting.CPU_LIMIT] is not None
            and mem_req == get[Setting.MEMORY_LIMIT]
            and cpu_req == get[Setting.CPU_LIMIT]
        )
        return "Guaranteed" if guaranteed else "Burstable"

    settings = (
        Setting.MEMORY_REQUEST,
        Setting.MEMORY_LIMIT,
        Setting.CPU_REQUEST,
        Setting.CPU_LIMIT,
    )
    now_values = {s: current(s) for s in settings}
    new_values = {s: pick(s) or now_values[s] for s in settings}
    new = klass(new_values)
    mem_equal = new_values[Setting.MEMORY_LIMIT] is not None and new_values[
        Setting.MEMORY_REQUEST
    ] in (None, new_values[Setting.MEMORY_LIMIT])
    why = {
        "Guaranteed": "Every request equals its limit: the last class the kubelet evicts.",
        "Burstable": (
            "Memory request equal to its limit (the node never overcommits it)"
            if mem_equal
            else "Memory request below its limit (or no limit): the node may promise the "
            "difference to other pods, and under memory pressure this pod is evicted first"
        )
        + "; CPU without a limit equal to its request. Guaranteed needs a CPU limit equal "
        "to the request, which throttles a Go service in its GC bursts.",
        "BestEffort": "No request and no limit: the first pod evicted under memory pressure.",
    }[new]
    return Recommendation(
        Setting.QOS,
        klass(now_values),
        new,
        "Guaranteed if requests = limits for CPU and memory; BestEffort if none is set; "
        "else Burstable",
        {s.value: v for s, v in new_values.items()},
        why,
    )
