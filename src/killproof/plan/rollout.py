"""Shutdown (preStop, grace period) and scale (replicas, HPA) from the drill. Pure.

Sources (/work/shared/reference/load-sizing-leaks-shutdown.md §5.1, §2.4): endpoint
removal reaches kube-proxy, CoreDNS and ingresses asynchronously (one to three seconds
on a healthy cluster, longer under load), so a pod keeps getting traffic after SIGTERM
unless preStop waits; the kubelet SIGKILLs at the end of terminationGracePeriodSeconds,
which counts the preStop hook too (default 30 s).

Units: seconds, requests per second.
"""

from __future__ import annotations

import math

from killproof.plan.deployed import Deployed
from killproof.plan.evidence import DrillEvidence
from killproof.plan.model import Recommendation, Setting
from killproof.plan.units import seconds

ENDPOINT_DELAY_S = 5.0
"""How long endpoint removal may take to reach every proxy: the preStop wait."""
DRAIN_FACTOR = 1.5
DRAIN_FLOOR_S = 5.0
DEFAULT_GRACE_S = 30.0
TARGET_UTILISATION = 0.7
"""Pods run at ≤ 70 % of the highest rate they held: spikes, and one pod being replaced."""
MIN_REPLICAS = 2


def _secs(v: float | None) -> str | None:
    return None if v is None else f"{v:g}"


def prestop(ev: DrillEvidence, now: Deployed) -> Recommendation | None:
    """The preStop sleep: keep a long enough one; add 5 s when the app stops serving sooner."""
    drain = ev.drain
    if drain is None:
        return None
    current = now.prestop_s
    stopped = drain.listener_closed_after_s
    if stopped is None:
        stopped = drain.exit_after_s
    fails = drain.readiness_failed_after_s or 0.0
    serves_after_unready = None if stopped is None else max(0.0, stopped - fails)
    inputs = {
        "current_prestop_s": current,
        "serves_after_unready_s": None
        if serves_after_unready is None
        else round(serves_after_unready, 3),
        "endpoint_delay_s": ENDPOINT_DELAY_S,
        "failed_after_signal": drain.failed_after_signal,
    }
    app_waits = serves_after_unready is not None and serves_after_unready >= ENDPOINT_DELAY_S
    if current >= ENDPOINT_DELAY_S or (app_waits and drain.failed_after_signal == 0):
        value = current
        why = (f"The pod keeps serving {ENDPOINT_DELAY_S:g} s after SIGTERM "
               + ("through its preStop hook" if current >= ENDPOINT_DELAY_S
                  else f"by itself ({seconds(serves_after_unready or 0)} after readiness failed)")
               + ", long enough for endpoint removal to reach every proxy.")  # fmt: skip
    else:
        value = ENDPOINT_DELAY_S
        why = (f"The service stopped serving {seconds(serves_after_unready or 0)} after it "
               f"turned unready; endpoint removal reaches kube-proxy, CoreDNS and ingresses "
               f"asynchronously, so wait {ENDPOINT_DELAY_S:g} s in preStop (sleep action, "
               "Kubernetes 1.30+) before SIGTERM.")  # fmt: skip
    return Recommendation(
        Setting.PRESTOP,
        _secs(current) if current else None,
        _secs(value),
        "preStop = current if ≥ 5 s or the app serves ≥ 5 s after readiness fails; else 5 s",
        inputs,
        why,
        value,
    )


def grace(ev: DrillEvidence, now: Deployed, prestop_s: float) -> Recommendation:
    """terminationGracePeriodSeconds: preStop + the measured drain, with margin."""
    drain = ev.drain
    current = now.grace_s
    if drain is None:
        return Recommendation(
            Setting.GRACE,
            _secs(current),
            None,
            "not measured",
            {},
            "The drill ran no shutdown test (it died, thrashed, or ran with "
            "--no-shutdown-test): drill again to size the grace period and preStop.",
        )
    effective = current if current is not None else DEFAULT_GRACE_S
    if drain.exit_after_s is None:
        return Recommendation(
            Setting.GRACE,
            _secs(current),
            None,
            "refused: the drain was not measured",
            {"drill_grace_s": drain.grace_s, "sigkill_sent": drain.sigkill_sent},
            f"The service did not exit within the drill's {drain.grace_s:g} s after SIGTERM: "
            "fix its shutdown (the drill's KP6xx findings) before sizing the grace period.",
        )
    d = drain.exit_after_s
    need = math.ceil(max(prestop_s + DRAIN_FACTOR * d, prestop_s + d + DRAIN_FLOOR_S))
    inputs = {"prestop_s": prestop_s, "exit_after_s": round(d, 3), "current_s": current}
    if effective >= need:
        value = current  # None: the default is enough, nothing to write
        why = (f"The current {effective:g} s covers preStop {prestop_s:g} s + the measured "
               f"drain {seconds(d)} with margin (needs {need} s); keep it.")  # fmt: skip
    else:
        value = float(need)
        why = (f"preStop {prestop_s:g} s + the measured drain {seconds(d)} (SIGTERM to exit) "
               "× 1.5, at least 5 s over: the kubelet SIGKILLs at the end of the grace period, "
               "which counts the preStop hook too.")  # fmt: skip
    return Recommendation(
        Setting.GRACE,
        _secs(current),
        _secs(effective if value is None else value),
        "grace = ceil(max(preStop + 1.5 × drain, preStop + drain + 5)); keep a larger current",
        inputs,
        why,
        value,
    )


def scale(ev: DrillEvidence, now: Deployed, target_rps: float) -> tuple[Recommendation, ...]:
    """Replicas and an HPA for ``target_rps`` from the highest rate one instance held."""
    held = ev.held_rate_rps
    current = None if now.replicas is None else str(now.replicas)
    inputs = {
        "target_rps": target_rps,
        "held_rate_rps": held,
        "target_utilisation": TARGET_UTILISATION,
        "slo": f"p{ev.slo_percentile:g}<{ev.slo_ms:g}ms",
    }
    if not held:
        why = (f"No load step held the SLO (p{ev.slo_percentile:g} < {ev.slo_ms:g} ms): the "
               "drill measured no per-instance capacity to divide the target by.")  # fmt: skip
        return (Recommendation(Setting.REPLICAS, current, None, "refused: no rate held",
                               inputs, why),)  # fmt: skip
    replicas = max(MIN_REPLICAS, math.ceil(target_rps / (TARGET_UTILISATION * held) - 1e-9))
    maximum = 2 * replicas
    formula = "replicas = max(2, ceil(target / (0.7 × held rate)))"
    why = (f"One instance held {held:g} req/s within the SLO; at ≤ 70 % of that, {target_rps:g} "
           f"req/s needs {replicas} (at least 2, so a rollout or a node drain never leaves none).")  # fmt: skip
    hpa_why = (f"Scale between {replicas} and {maximum} on CPU at 70 % of the request: the "
               "drill's CPU was measured at up to the held rate, so 70 % of it is about 70 % of "
               "the capacity.")  # fmt: skip
    return (
        Recommendation(
            Setting.REPLICAS, current, str(replicas), formula, inputs, why, float(replicas)
        ),
        Recommendation(
            Setting.HPA,
            None,
            f"minReplicas {replicas}, maxReplicas {maximum}, cpu averageUtilization 70%",
            "minReplicas = replicas; maxReplicas = 2 × replicas; target CPU 70 %",
            inputs,
            hpa_why,
            float(maximum),
        ),
    )
