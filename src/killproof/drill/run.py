"""One drill, start to finish: sandbox → ready → stepped load + sampling → shutdown test.

The orchestration owns the order of events and every stop condition; the judging is in
:mod:`killproof.drill.verdict` (pure). A drill never waits for a kill that does not come:
each step has a fixed length, each request a timeout, and a service pinned at its limit
while the kernel reclaims (thrash) ends the load early.

Units: bytes, seconds, requests per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from killproof.drill import pprof_adapter
from killproof.drill.cgroup import find_root
from killproof.drill.interrupts import interrupt_on_signals
from killproof.drill.ledger import default_dir
from killproof.drill.load import LoadPlan, LoadStep, StepProgress, run_load
from killproof.drill.load_plan import Engine, authority, checked_address, resolve_target
from killproof.drill.ready import ReadyProbe, check_once, wait_ready
from killproof.drill.request_source import RequestSource
from killproof.drill.sampler import Sampler, SamplerConfig
from killproof.drill.sandbox import Sandbox, SandboxChoice, SandboxSpec, sweep_leftovers
from killproof.drill.settings import (
    DEFAULT_CONNECTIONS,
    DEFAULT_GRACE_S,
    DEFAULT_HOST,
    DEFAULT_MAX_STARTUP_S,
    DEFAULT_SAMPLE_HZ,
    DEFAULT_SLO_MS,
    DEFAULT_SLO_PERCENTILE,
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_THRASH_AFTER_S,
    DEFAULT_TIMEOUT_S,
)
from killproof.drill.shutdown import ClientTraffic, ShutdownPlan, run_shutdown, tcp_open
from killproof.errors import InputError
from killproof.facts.drill import (
    DrillLimits,
    DrillResult,
    Exit,
    LeakFlag,
    OomRecord,
    Sample,
    ShutdownTimeline,
)
from killproof.facts.load import StepResult
from killproof.rules.drill import judge


@dataclass(frozen=True)
class DrillConfig:
    """Everything a drill needs, built at the CLI edge (bytes, seconds, req/s); the
    defaults are :mod:`killproof.drill.settings`'s, as the command line's are."""

    command: tuple[str, ...]
    memory_bytes: int
    port: int
    ready: ReadyProbe
    requests: RequestSource
    steps: tuple[LoadStep, ...]
    work_dir: Path
    """Where stdout/stderr and heap profiles are kept."""
    cpus: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    base_env: Mapping[str, str] = field(default_factory=dict)
    """The environment the service inherits (``env`` wins)."""
    sandbox: SandboxChoice = SandboxChoice.AUTO
    grace_s: float = DEFAULT_GRACE_S
    stop_signal: signal.Signals = signal.SIGTERM
    slo_percentile: float = DEFAULT_SLO_PERCENTILE
    slo_ms: float = DEFAULT_SLO_MS
    target_rate: float | None = None
    max_startup_s: float = DEFAULT_MAX_STARTUP_S
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    connections: int = DEFAULT_CONNECTIONS
    request_timeout_s: float = DEFAULT_TIMEOUT_S
    engine: Engine = Engine.BUILTIN
    allow_remote: bool = False
    shutdown_test: bool = True
    shutdown_path: str = ""
    """Path the shutdown test's clients request (the first request template's by default)."""
    sample_hz: float = DEFAULT_SAMPLE_HZ
    host: str = DEFAULT_HOST
    address: str = ""
    """The IP address ``host`` resolved to when it was checked (loopback unless
    ``allow_remote``): readiness, load, sampling and the shutdown test all connect there,
    with ``host`` as the ``Host`` header. Empty: :func:`run_drill` resolves ``host`` once."""
    thrash_after_s: float = DEFAULT_THRASH_AFTER_S
    """Seconds pinned at the limit (failcnt climbing, no kill) before the drill calls it."""
    read_kernel_log: bool = True
    request_alternates: tuple[RequestSource, ...] = ()
    """Tried in turn when ``requests`` is not answered with a 2xx (zero-config ``drill
    PATH``: other routes found in the code, then probe paths); empty for ``--request``."""

    def limits(self) -> DrillLimits:
        """The numbers the verdict judges against."""
        return DrillLimits(
            memory_bytes=self.memory_bytes,
            grace_s=self.grace_s,
            max_startup_s=self.max_startup_s,
            slo_percentile=self.slo_percentile,
            slo_ms=self.slo_ms,
            target_rate=self.target_rate,
        )


@dataclass(frozen=True)
class DrillProgress:
    """A live update for the progress display."""

    phase: str
    step: int = -1
    steps_total: int = 0
    rate_asked: float = 0.0
    rate_achieved: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    memory_bytes: int | None = None
    limit_bytes: int = 0


ProgressSink = Callable[[DrillProgress], None]


_GO_OOM = "fatal error: runtime: out of memory"


def _uptime_s() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_drill(config: DrillConfig, progress: ProgressSink | None = None) -> DrillResult:
    """Run the whole drill and return what it observed (never raises for a dying service)."""
    notify = progress or (lambda _p: None)
    url = f"http://{authority(config.host, config.port)}"
    checked = (
        checked_address(url, config.address, config.allow_remote)
        if config.address
        else resolve_target(url, config.allow_remote)
    )
    # Resolved once, here or by the caller; from now on only the checked address is used.
    config = replace(config, address=checked.address)
    config = replace(config, ready=_aimed(config.ready, config))
    # What a killed drill left may hold the port: remove it before judging the port taken.
    early = sweep_leftovers(default_dir(config.base_env), find_root())
    if tcp_open(config.address, config.port):
        # Otherwise readiness and load would hit whatever already listens there.
        raise InputError(f"port {config.port} on {config.host} is already in use; pick --port")
    config.work_dir.mkdir(parents=True, exist_ok=True)
    spec = SandboxSpec(
        command=config.command,
        memory_bytes=config.memory_bytes,
        cpus=config.cpus,
        env={**config.env, "PORT": str(config.port)},
        base_env=config.base_env,
        choice=config.sandbox,
        output_dir=config.work_dir,
    )
    uptime0 = _uptime_s()
    with interrupt_on_signals(), Sandbox(spec) as box:
        cleaned = (*early.cleaned, *box.cleaned_leftovers)
        notes = [f"cleaned up after an earlier drill: {c}" for c in cleaned]
        refused = (*early.refused, *box.refused_records)
        notes += [f"drill ledger record deleted, not acted on: {r}" for r in refused]
        if box.kind.is_emulated:
            why = (
                "as asked"
                if config.sandbox is SandboxChoice.WATCHDOG
                else ("no memory cgroup available: not root, no systemd")
            )
            notes.append(
                f"the limit was emulated by an RSS watchdog ({why}), so the kernel's reclaim "
                "and OOM killer were not exercised"
            )
        notify(DrillProgress("starting", limit_bytes=config.memory_bytes))
        try:
            outcome = wait_ready(
                lambda: check_once(config.ready),
                box.poll,
                timeout_s=config.startup_timeout_s,
            )
        except KeyboardInterrupt:
            waited = box.elapsed()
            notes.append(f"interrupted after {waited:.1f} s, before the service became ready")
            return DrillResult(
                command=config.command,
                sandbox=box.kind,
                limits=config.limits(),
                ready=False,
                startup_error=f"interrupted after {waited:.1f} s waiting for readiness",
                notes=tuple(notes),
                request=_describe(config.requests),
                request_origin=config.requests.origin,
                interrupted=True,
            )
        base = DrillResult(
            command=config.command,
            sandbox=box.kind,
            limits=config.limits(),
            ready=outcome.ready,
            startup_s=outcome.after_s if outcome.ready else None,
            startup_error="" if outcome.ready else _with_stderr(outcome.describe(), box),
            request=_describe(config.requests),
            request_origin=config.requests.origin,
        )
        if not outcome.ready:
            state = box.memory_state()
            ended = outcome.exited or box.poll()
            oom = _oom_of(box, ended, (), state.oom_kill if state else None, config)
            kernel = _kernel_lines(uptime0, box.pid) if oom and config.read_kernel_log else ()
            return replace(base, exit=ended, oom=oom, notes=tuple(notes), kernel_events=kernel)
        chosen, tried = _choose_request(config)
        config = replace(config, requests=chosen)
        base = replace(base, request=_describe(chosen), request_origin=chosen.origin)
        if len(tried) > 1:
            notes.append("not answered with a 2xx, so not loaded: " + "; ".join(tried[:-1]))
        sampler = Sampler(
            SamplerConfig(
                limit_bytes=config.memory_bytes,
                profile_dir=config.work_dir / "profiles",
                rate_hz=config.sample_hz,
                port=config.port,
                host=config.host,
                address=config.address,
            ),
            pid=box.service_pid() or box.pid,
            read_cgroup=box.memory_state,
            t0=box.started_at,
        )
        sampler.start()
        steps: list[StepResult] = []
        stop_reason, thrash_at, interrupted = "", None, False
        timeline: ShutdownTimeline | None = None
        try:
            stop_reason, thrash_at, engine_notes = _load_phase(config, box, sampler, notify, steps)
            notes += engine_notes
            ended = box.poll()
            if ended is None and thrash_at is not None:
                notes.append("shutdown test skipped: the service was thrashing at its limit")
            elif ended is None and config.shutdown_test:
                notify(DrillProgress("shutdown", limit_bytes=config.memory_bytes))
                timeline = _shutdown_phase(config, box, steps)
            elif ended is None:
                notes.append("shutdown test skipped (--no-shutdown-test)")
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM/SIGHUP): report what was measured so far, then exit 130.
            interrupted, ended = True, box.poll()
            at = (
                f"during step {sampler.step + 1} of {len(config.steps)}"
                if sampler.step >= 0
                else ("during the shutdown test" if steps else "before the load")
            )
            notes.append(
                f"interrupted {at}: a partial result ({_plural(len(steps), 'step')} completed)"
            )
        finally:
            sampler.stop()
        state = box.memory_state()
        samples = sampler.samples()
        oom = _oom_of(box, ended, samples, state.oom_kill if state else None, config)
        kernel = _kernel_lines(uptime0, box.pid) if oom and config.read_kernel_log else ()
        if stop_reason:
            notes.append(f"load stopped early: {stop_reason}")
        missing = sampler.missing_paths()
        if "/debug/pprof/heap" in missing:
            notes.append(
                "no heap profiles: the service does not serve /debug/pprof/heap (import "
                "net/http/pprof, on an internal port) so an OOM cannot name its allocation site"
            )
        if "/metrics" in missing and "/debug/pprof/goroutine" in missing:
            notes.append("no goroutine counts: neither /metrics nor /debug/pprof/goroutine")
        if ended is not None and oom is None:
            notes.append(
                _with_stderr(f"the service exited during the load ({ended.describe()})", box)
            )
    profiles = tuple(pprof_adapter.decode(p) for p in sampler.profiles())
    return replace(
        base,
        samples=samples,
        steps=tuple(steps),
        profiles=profiles,
        oom=oom,
        exit=ended,
        shutdown=timeline,
        thrash_detected_at_s=thrash_at,
        notes=tuple(notes),
        kernel_events=kernel,
        interrupted=interrupted,
        leak_flag=_leak_flag(sampler, samples),
    )


def _leak_flag(sampler: Sampler, samples: tuple[Sample, ...]) -> LeakFlag | None:
    """The sampler's online leak flag as a drill fact."""
    first = sampler.leak_flag()
    if first is None:
        return None
    withdrawn = sampler.leak_judge.withdrawn
    latest = sampler.leak_judge.latest
    if withdrawn is None or withdrawn.t_s < first.t_s or (latest is not None and latest.leaking):
        withdrawn = None  # still flagged at the end (or flagged again since)
    return LeakFlag(
        t_s=first.t_s,
        slope_per_s=first.slope_per_s,
        confidence=first.confidence,
        memory_bytes=first.level,
        seconds_to_limit=first.seconds_to_limit,
        withdrawn_at_s=withdrawn.t_s if withdrawn is not None else None,
        load_start_s=next((s.t_s for s in samples if s.step >= 0), None),
    )


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _load_phase(
    config: DrillConfig,
    box: Sandbox,
    sampler: Sampler,
    notify: ProgressSink,
    results: list[StepResult],
) -> tuple[str, float | None, list[str]]:
    """Run each step on its own (so each ends with a heap profile); stop on death/thrash.
    Completed steps are appended to ``results`` as they end, so an interrupt keeps them."""
    reason = ""
    next_thrash_check = 0.0
    engine_notes: list[str] = []
    latency: list[tuple[float, float]] = []
    throughput: list[tuple[float, float]] = []
    thrash_at: float | None = None

    async def guard(stop: asyncio.Event) -> None:
        nonlocal reason, thrash_at, next_thrash_check
        while not stop.is_set():
            latest = sampler.latest()
            if box.poll() is not None:
                reason = "the service exited"
            elif latest is not None and latest.oom_kills:
                reason = "the OOM killer fired"
            elif latest is not None and latest.t_s >= next_thrash_check:
                next_thrash_check = latest.t_s + 1.0  # a full pass over the samples: 1 Hz
                verdict = judge.thrash(
                    sampler.samples(), config.memory_bytes, config.thrash_after_s,
                    latency_ms=latency, throughput_rps=throughput,
                )  # fmt: skip
                if verdict.thrashing:
                    thrash_at = latest.t_s
                    reason = f"thrashing at the memory limit: {verdict.reason}"
            if reason:
                stop.set()
                return
            await asyncio.sleep(0.1)

    async def one_step(index: int, step: LoadStep) -> StepResult | None:
        stop = asyncio.Event()
        plan = LoadPlan(
            target=f"http://{config.host}:{config.port}",
            requests=config.requests,
            steps=(step,),
            connections=config.connections,
            timeout_s=config.request_timeout_s,
            allow_remote=config.allow_remote,
            engine=config.engine,
            address=config.address,
        )

        def on_progress(p: StepProgress) -> None:
            latest = sampler.latest()
            if p.window is not None and p.window.completed:
                # Per-second latency and throughput: thrash needs a collapse, not just a
                # cgroup at its limit.
                t = p.window.t_s - box.started_at
                latency.append((t, p.window.p99_ms))
                throughput.append((t, p.window.rate_rps))
            notify(
                DrillProgress(
                    "load", index, len(config.steps), p.rate_asked_rps, p.rate_achieved_rps,
                    p.p50_ms, p.p99_ms, p.errors,
                    latest.memory_bytes if latest else None, config.memory_bytes,
                )
            )  # fmt: skip

        guard_task = asyncio.create_task(guard(stop))
        try:
            result = await run_load(plan, on_progress=on_progress, stop=stop)
            if result.note and result.note not in engine_notes:
                engine_notes.append(result.note)
        finally:
            stop.set()
            await guard_task
        return replace(result.steps[0], index=index) if result.steps else None

    for index, step in enumerate(config.steps):
        sampler.step = index
        result = asyncio.run(one_step(index, step))
        sampler.step = -1
        if result is not None:
            results.append(result)
        if reason:
            break
        sampler.capture_profile(f"step{index}-end")
    return reason, thrash_at, engine_notes


def _shutdown_phase(config: DrillConfig, box: Sandbox, steps: list[StepResult]) -> ShutdownTimeline:
    path = config.shutdown_path or config.requests.templates[0].path
    # About the last step's rate, with enough clients that slow requests are in flight
    # when the signal lands (in-flight requests are what a bad shutdown drops).
    rate = steps[-1].rate_achieved_rps if steps and steps[-1].rate_achieved_rps > 0 else 50.0
    clients = max(4, min(32, config.connections))
    traffic = ClientTraffic(config.port, path, workers=clients, host=config.host,
                            pause_s=clients / rate, address=config.address)  # fmt: skip
    probe = config.ready
    return run_shutdown(
        box,
        ShutdownPlan(signal=config.stop_signal, grace_s=config.grace_s),
        ready_check=lambda: check_once(replace(probe, timeout_s=0.3))[0],
        listener_open=lambda: tcp_open(config.address, config.port),
        traffic=traffic,
    )


def _aimed(probe: ReadyProbe, config: DrillConfig) -> ReadyProbe:
    """``probe`` connecting to the checked address when it checks the drill's host."""
    if probe.address or probe.host != config.host:
        return probe
    return replace(probe, address=config.address)


def _describe(source: RequestSource) -> str:
    """``GET /orders?id={n}`` (or the first of a list and how many there are)."""
    first = source.templates[0]
    more = len(source.templates) - 1
    return f"{first}" + (f" (and {_plural(more, 'other')})" if more else "")


def _first_status(config: DrillConfig, source: RequestSource) -> str | int:
    """The HTTP status of ``source``'s first request, or why there was none."""
    req = source.render(0)
    address = config.address or config.host
    conn = http.client.HTTPConnection(address, config.port, timeout=config.request_timeout_s)
    headers = {"Host": authority(config.host, config.port), **dict(req.headers)}
    try:
        conn.request(req.method, req.path, body=req.body or None, headers=headers)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer ({type(exc).__name__})"
    finally:
        conn.close()


def _choose_request(config: DrillConfig) -> tuple[RequestSource, list[str]]:
    """The first request source whose first request is answered with a 2xx, and what was
    tried (``GET /orders?id=0 from --request: HTTP 400``). A drill whose every request
    fails measures the set-up, not the service: InputError (exit 2) names the request, where
    it came from and the status."""
    tried: list[str] = []
    for source in (config.requests, *config.request_alternates):
        status = _first_status(config, source)
        shown = f"HTTP {status}" if isinstance(status, int) else status
        tried.append(f"{source.render(0)} (from {source.origin}): {shown}")
        if isinstance(status, int) and 200 <= status < 300:
            return source, tried
    if len(tried) == 1:
        origin = config.requests.origin
        fix = (
            "fix --request"
            if origin == "--request"
            else (
                "give --request" if origin == "the default" else f"fix {origin}, or give --request"
            )
        )
        raise InputError(
            f"the first request, {tried[0]}, is not a 2xx, so the drill would measure "
            f"errors, not the service: {fix} ('GET /path?key={{n}}')"
        )
    raise InputError(
        f"no request was answered with a 2xx before the load ({'; '.join(tried)}): give "
        "one with --request 'GET /path?key={n}'"
    )


def last_words(stderr: str) -> str:
    """Why a Go program quit, from its stderr: the ``panic:``/``fatal error:`` line when
    there is one (the stack below it is noise here), else the last non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("panic: ", "fatal error: ")):
            return line[:300]
    return lines[-1][:300] if lines else ""


def _with_stderr(message: str, box: Sandbox) -> str:
    """``message`` plus the service's last words on stderr."""
    time.sleep(0.05)  # let a dying process's last write land
    words = last_words(box.stderr_text())
    return f"{message}; its last words: {words}" if words else message


def _oom_of(
    box: Sandbox,
    ended: Exit | None,
    samples: tuple[Sample, ...],
    oom_kills: int | None,
    config: DrillConfig,
) -> OomRecord | None:
    """Was the service killed for memory? cgroup counters first, then watchdog, then exit."""
    # The last reading before the kill: afterwards the cgroup is empty and RSS is gone.
    last = next((s for s in reversed(samples) if s.memory_bytes and not s.oom_kills), None)
    at = ended.t_s if ended else (last.t_s if last else box.elapsed())
    used = last.memory_bytes if last else None
    if oom_kills:
        counter = (
            "memory.events oom_kill"
            if box.cgroup and box.cgroup.version.value == "v2"
            else ("memory.oom_control oom_kill")
        )
        return OomRecord(
            at, "cgroup-events", config.memory_bytes, used, (f"{counter} {oom_kills}",)
        )
    if ended is not None and _GO_OOM in box.stderr_text():
        # Go's allocator failed (an address-space rlimit, or no memory at all): also an OOM.
        why = f"stderr: {_GO_OOM}"
        return OomRecord(at, "go-runtime", config.memory_bytes, used, (why,))
    if box.container_oom_killed():
        why = f"{box.kind.value} inspect: State.OOMKilled true"
        return OomRecord(at, "container-runtime", config.memory_bytes, used, (why,))
    if box.watchdog_kill is not None:
        t, rss = box.watchdog_kill
        why = f"watchdog: RSS {rss} bytes > limit {config.memory_bytes} bytes"
        return OomRecord(t, "watchdog", config.memory_bytes, rss, (why,))
    if (
        ended is not None
        and ended.signal == "SIGKILL"
        and used
        and used > 0.9 * config.memory_bytes
    ):
        why = f"{ended.describe()} at {used} of {config.memory_bytes} bytes"
        return OomRecord(at, "exit-status", config.memory_bytes, used, (why,))
    return None


def _kernel_lines(uptime0: float | None, pid: int) -> tuple[str, ...]:
    """The kernel log's words about this kill, via ``why`` (empty when unreadable)."""
    if uptime0 is None:
        return ()
    with contextlib.suppress(Exception):  # the kernel log is a bonus, never a failure
        from killproof.rules.kill import explain
        from killproof.why.api import kernel_kills_since

        deadline = time.monotonic() + 1.0
        while True:
            events = kernel_kills_since(uptime0 - 1.0, pid)
            if events or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # the kernel's lines can trail the SIGKILL slightly
        out: list[str] = []
        for e in events:
            out.append(explain(e).headline)
            out.extend(ev.text for ev in e.evidence[:6])
        return tuple(out)
    return ()
