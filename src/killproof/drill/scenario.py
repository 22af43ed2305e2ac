"""A small text form of a drill's observations, so rule examples and tests are readable.

The KP6xx rules judge a :class:`DrillResult`. Their documentation examples describe a
drill in this format, and the test suite parses each example and runs the rule on it, so
the examples in ``killproof explain KP601`` are executable. One directive per line::

    limit 64Mi                  # also: grace 30s, max-startup 10s, slo p99<300ms,
                                #       target-rate 200, sandbox cgroup-v1
    startup 0.05s               # or: startup never "process exited (exit status 1)"
    step 200/s 10s p50=2ms p99=3ms errors=0 [achieved=190]
    memory 1s 20Mi 2s 33Mi …    # samples (time, bytes) in the current step
    goroutines 1s 12 2s 212 …   # samples (time, count) in the current step
    idle                        # following samples are outside any step
    profile 3.5s memory-80pct main.remember main.go:21 41Mi
    oom 4.1s cgroup-events
    exit 4.1s SIGKILL           # or: exit 4.1s 1 (an exit status)
    thrash 12s
    shutdown SIGTERM exit-after=0.3s code=0 ready-failed=0.01s closed=0.3s failed=0 refused=3
                                # (also ok=N, clients=N; exit-after=none: still running)
    dump main.flushQueue main.go:22   # a frame of the SIGQUIT dump
    request "GET /orders?id={n}" --request   # what was sent, and where it came from
    interrupted                 # stopped by Ctrl-C before the end (a partial result)

Times are seconds since the service started. Parse errors name the line.
"""

from __future__ import annotations

import shlex
import signal
from dataclasses import dataclass, field, replace

from killproof.analysis.leak import parse_slo
from killproof.drill.load_plan import parse_duration
from killproof.drill.quantity import parse_bytes
from killproof.errors import InputError
from killproof.facts.drill import (
    AllocationSite,
    DrillLimits,
    DrillResult,
    Exit,
    HeapProfile,
    OomRecord,
    Sample,
    SandboxKind,
    ShutdownTimeline,
)
from killproof.facts.load import LoadModel, StepResult


@dataclass
class _State:
    """Mutable while parsing (confined to this module)."""

    limits: DrillLimits = field(default_factory=lambda: DrillLimits(memory_bytes=64 << 20))
    sandbox: SandboxKind = SandboxKind.CGROUP_V1
    ready: bool = True
    startup_s: float | None = 0.1
    startup_error: str = ""
    step: int = -1
    steps: list[StepResult] = field(default_factory=list)
    memory: dict[tuple[float, int], int] = field(default_factory=dict)
    goroutines: dict[tuple[float, int], int] = field(default_factory=dict)
    profiles: list[HeapProfile] = field(default_factory=list)
    oom: OomRecord | None = None
    exit: Exit | None = None
    thrash: float | None = None
    shutdown: ShutdownTimeline | None = None
    dump: list[str] = field(default_factory=list)
    request: tuple[str, str] = ("", "")
    interrupted: bool = False


def _seconds(text: str) -> float:
    return 0.0 if text in {"0", "0s"} else parse_duration(text)


def _ms(text: str) -> float:
    return _seconds(text) * 1000


def _kv(words: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            raise ValueError(f"expected key=value, got {w!r}")
        out[key] = value
    return out


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    if len(words) % 2:
        raise ValueError("expected pairs of time and value")
    return [(words[i], words[i + 1]) for i in range(0, len(words), 2)]


def _step(st: _State, words: list[str]) -> None:
    rate_text, dur_text, *rest = words
    rate = float(rate_text.removesuffix("/s"))
    kv = _kv(rest)
    dur = _seconds(dur_text)
    errors = int(kv.get("errors", "0"))
    achieved = float(kv.get("achieved", rate))
    st.step = len(st.steps)
    st.steps.append(
        StepResult(
            index=st.step,
            model=LoadModel.OPEN,
            rate_asked_rps=rate,
            rate_achieved_rps=achieved,
            duration_s=dur,
            sent=int(achieved * dur),
            completed=int(achieved * dur),
            unsent=0,
            errors=(("http_500", errors),) if errors else (),
            p50_ms=_ms(kv.get("p50", "1ms")),
            p90_ms=_ms(kv.get("p90", kv.get("p99", "1ms"))),
            p99_ms=_ms(kv.get("p99", "1ms")),
            max_ms=_ms(kv.get("max", kv.get("p99", "1ms"))),
            service_p99_ms=_ms(kv.get("p99", "1ms")),
            histogram="",
            stopped_early=kv.get("stopped") == "yes",
        )
    )


def _shutdown(st: _State, words: list[str]) -> None:
    sig, *rest = words
    kv = _kv(rest)
    after = None if kv.get("exit-after", "none") == "none" else _seconds(kv["exit-after"])
    code = kv.get("code")
    ended = None
    if after is not None:
        ended = (
            Exit(after, signal=code)
            if code and code.startswith("SIG")
            else Exit(after, int(code or 0))
        )
    within = after is not None and after <= st.limits.grace_s
    opt = {k: _seconds(kv[k]) for k in ("ready-failed", "closed") if kv.get(k, "none") != "none"}
    st.shutdown = ShutdownTimeline(
        signal=signal.Signals[sig].name,
        grace_s=st.limits.grace_s,
        exited=ended is not None,
        exit_after_s=after,
        exit=ended,
        within_grace=within,
        readiness_failed_after_s=opt.get("ready-failed"),
        listener_closed_after_s=opt.get("closed"),
        requests_after_signal=int(kv.get("ok", "0"))
        + int(kv.get("failed", "0"))
        + int(kv.get("refused", "0")),
        ok_after_signal=int(kv.get("ok", "0")),
        failed_after_signal=int(kv.get("failed", "0")),
        refused_after_signal=int(kv.get("refused", "0")),
        sigquit_sent=not within,
        sigkill_sent=not within,
        clients=int(kv.get("clients", "8")),
    )


def _directive(st: _State, key: str, words: list[str]) -> None:
    lim = st.limits
    match key:
        case "limit":
            st.limits = replace(lim, memory_bytes=parse_bytes(words[0]))
        case "grace":
            st.limits = replace(lim, grace_s=_seconds(words[0]))
        case "max-startup":
            st.limits = replace(lim, max_startup_s=_seconds(words[0]))
        case "slo":
            slo = parse_slo(words[0])
            st.limits = replace(lim, slo_percentile=slo.percentile, slo_ms=slo.threshold_ms)
        case "target-rate":
            st.limits = replace(lim, target_rate=float(words[0]))
        case "sandbox":
            st.sandbox = SandboxKind(words[0])
        case "startup" if words[0] == "never":
            st.ready, st.startup_s, st.startup_error = False, None, " ".join(words[1:])
        case "startup":
            st.startup_s = _seconds(words[0])
        case "step":
            _step(st, words)
        case "idle":
            st.step = -1
        case "memory":
            for t, v in _pairs(words):
                st.memory[(_seconds(t), st.step)] = parse_bytes(v, "memory")
        case "goroutines":
            for t, v in _pairs(words):
                st.goroutines[(_seconds(t), st.step)] = int(v)
        case "profile":
            t, reason, fn, pos, size = words
            file, _, line = pos.rpartition(":")
            site = AllocationSite(fn, file, int(line), parse_bytes(size, "size"))
            st.profiles.append(
                HeapProfile(f"profiles/heap-{reason}.pb.gz", _seconds(t), reason, top=(site,))
            )
        case "oom":
            st.oom = OomRecord(_seconds(words[0]), words[1], lim.memory_bytes)
        case "exit":
            t, how = words
            st.exit = (
                Exit(_seconds(t), signal=how)
                if how.startswith("SIG")
                else Exit(_seconds(t), int(how))
            )
        case "thrash":
            st.thrash = _seconds(words[0])
        case "shutdown":
            _shutdown(st, words)
        case "dump":
            st.dump.append(" ".join(words))
        case "request":
            st.request = (words[0], " ".join(words[1:]))
        case "interrupted":
            st.interrupted = True
        case _:
            raise ValueError(f"unknown directive {key!r}")


def parse_scenario(text: str, origin: str = "<scenario>") -> DrillResult:
    """Parse the scenario format into a :class:`DrillResult`; InputError names the line."""
    st = _State()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            key, *words = shlex.split(line)
            _directive(st, key, words)
        except InputError as exc:
            raise InputError(exc.message, origin, number) from exc
        except (ValueError, KeyError, IndexError) as exc:
            raise InputError(f"bad scenario line {line!r}: {exc}", origin, number) from exc
    times = sorted(set(st.memory) | set(st.goroutines))
    samples = tuple(
        Sample(
            t_s=t,
            rss_bytes=st.memory.get((t, step)),
            cgroup_usage_bytes=st.memory.get((t, step)),
            cgroup_limit_bytes=st.limits.memory_bytes,
            goroutines=st.goroutines.get((t, step)),
            step=step,
        )
        for t, step in times
    )
    oom = st.oom
    if oom is not None and oom.memory_bytes is None:
        before = [s.memory_bytes for s in samples if s.t_s <= oom.t_s and s.memory_bytes]
        oom = replace(oom, memory_bytes=before[-1] if before else None)
    shutdown = st.shutdown
    if shutdown is not None and st.dump:
        dump = "SIGQUIT: quit\n\ngoroutine 1 [sleep]:\n" + "\n".join(
            f"{fn}(...)\n\t{pos} +0x1" for fn, _, pos in (d.partition(" ") for d in st.dump)
        )
        shutdown = replace(shutdown, goroutine_dump=dump)
    return DrillResult(
        command=("./service",),
        sandbox=st.sandbox,
        limits=st.limits,
        ready=st.ready,
        startup_s=st.startup_s,
        startup_error=st.startup_error,
        samples=samples,
        steps=tuple(st.steps),
        profiles=tuple(st.profiles),
        oom=oom,
        exit=st.exit,
        shutdown=shutdown,
        thrash_detected_at_s=st.thrash,
        request=st.request[0],
        request_origin=st.request[1],
        interrupted=st.interrupted,
    )
