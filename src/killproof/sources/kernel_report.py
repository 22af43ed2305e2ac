"""One kernel OOM report while it is being read, and the events it turns into.

:class:`OpenReport` is the private, mutable builder behind
:class:`~killproof.sources.kernel.KernelOomParser`: it collects what each line of one report
says and, when the report ends, produces frozen :class:`KillEvent` values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from killproof.facts.kill import Cause, KillEvent, LimitScope, TaskRow
from killproof.model import Evidence
from killproof.sources import kernel_lines as kl
from killproof.sources.logwrap import Unwrapped, unwrap

AFTER_KILL_LINES = 3
"""Kernel lines after ``Killed process`` in which a ``memory.oom.group`` line or a wrapped
continuation may still belong to the same report."""
STALE_LINES = 1000
"""Unrecognised lines in a row after which an open report is taken as cut off (a report's
stack, Mem-Info and cgroup stats are far fewer; task-table rows count as recognised)."""
MAX_VICTIMS = 1000
"""``Killed process`` lines one report takes at most (memory.oom.group kills); past that
the next one starts a report of its own."""
MAX_ROWS = 100_000
"""Task-table rows kept per report (a host with more processes keeps the first ones)."""
TENTATIVE_LINES = 200
"""Lines a report opened at a ``CPU:``/``Hardware name:`` line waits for a sign of the OOM
killer (an ``out_of_memory`` frame, a memcg block) before it is dropped as another stack."""
TOP_TASKS = 10
_GLOBAL_CONSTRAINTS = {"CONSTRAINT_NONE", "CONSTRAINT_CPUSET", "CONSTRAINT_MEMORY_POLICY"}
_PAGE_SIZES_KB = (4, 8, 16, 64)


@dataclass(frozen=True)
class Victim:
    """A ``Killed process`` line with where it was read."""

    line: kl.Killed
    wrapped: Unwrapped
    evidence: Evidence
    lineno: int


class OpenReport:
    """The facts of one OOM report gathered so far (a builder: mutable, private)."""

    def __init__(self, wrapped: Unwrapped) -> None:
        self.first = wrapped
        self.invoker_process: str | None = None
        self.invoker_pid: int | None = None
        self.summary: kl.Summary | None = None
        self.summary_open = False
        self.selected: kl.Selected | None = None
        self.usage: kl.Usage | None = None
        self.memsw: kl.Usage | None = None
        self.task_in: kl.TaskIn | None = None
        self.stats_memcg: str | None = None
        self.header = False
        self.sysrq = False
        self.memcg_frame = False
        self.oom_frame = False
        self.alloc_frame = False
        self.mem_info = False
        self.panic = False
        """The kernel panicked (``System is deadlocked on memory``, ``panic_on_oom``): global."""
        self.after_no_killable: bool | None = None
        """After "no killable processes": None until the next kernel line is read, then
        whether it was something other than the panic that follows a global OOM."""
        self.columns: tuple[str, ...] | None = None
        self.rows: list[kl.RawRow] = []
        self.victims: list[Victim] = []
        self.group_path: str | None = None
        self.no_killable = False
        self.exiting = False
        self.evidence: list[Evidence] = []
        self.after_kill = 0
        self.stale = 0
        self.foreign = 0

    @classmethod
    def start(cls, head: kl.Header, wrapped: Unwrapped, evidence: Evidence) -> OpenReport:
        """A report opened by its ``invoked oom-killer`` header."""
        report = cls(wrapped)
        report.invoker_process = head.comm or None
        report.header = True
        # a SysRq-f (manual) OOM is machine-wide: the kernel prints order=-1 for it
        report.sysrq = "order=-1" in wrapped.text
        report.evidence.append(evidence)
        return report

    @classmethod
    def headerless(cls, wrapped: Unwrapped) -> OpenReport:
        """A report whose header is missing (rate-limited dump, partial paste, grep output)."""
        return cls(wrapped)

    @property
    def wants_more(self) -> bool:
        """True until the kill lines (and the few lines after them) are read."""
        if self.no_killable:
            return self.after_no_killable is None and not self.panic
        if self.exiting:
            return False
        return not self.victims or self.after_kill > 0

    @property
    def settled(self) -> bool:
        """True when no further ``Killed process`` line can belong to this report."""
        if self.exiting or self.no_killable:
            return True
        if len(self.victims) >= MAX_VICTIMS:
            return True
        return bool(self.victims) and not (self.group_path and self.after_kill > 0)

    @property
    def is_oom(self) -> bool:
        """True when a line read so far is the OOM killer's own (a report opened at a
        ``CPU:`` or ``Hardware name:`` line may be any other kernel warning's stack)."""
        return bool(
            self.header
            or self.victims
            or self.selected
            or self.summary
            or self.task_in
            or self.usage
            or self.stats_memcg
            or self.oom_frame
            or self.no_killable
        )

    @property
    def exhausted(self) -> bool:
        """True when so many lines went by unrecognised that the report must have been cut."""
        if not self.is_oom and self.stale >= TENTATIVE_LINES:
            return True
        return self.stale >= STALE_LINES or self.foreign >= STALE_LINES

    def note_next(self, text: str) -> None:
        """See the kernel line after "no killable processes": the panic of a global OOM, or
        anything else (a memcg OOM returns and the log goes on)."""
        if not self.no_killable or self.after_no_killable is not None or self.panic:
            return
        if "deadlocked on memory" in text or "Kernel panic" in text:
            self.panic = True
        else:
            self.after_no_killable = True

    def note_foreign(self) -> None:
        """Count a line of another writer that came in the middle of the report."""
        self.foreign += 1

    def repeats(self, line: kl.Killed) -> bool:
        """True when ``line`` is the last ``Killed process`` line again, word for word."""
        return bool(self.victims) and self.victims[-1].line == line

    def repeats_header(self, text: str) -> bool:
        """True when ``text`` is this report's header line again and nothing else was read."""
        return (
            self.header
            and len(self.evidence) == 1
            and self.stale == 0
            and self.invoker_pid is None
            and unwrapped_text(self.evidence[0].text) == text
        )

    def add_victim(self, victim: Victim) -> None:
        """A ``Killed process`` line of this report."""
        self.victims.append(victim)
        self.after_kill = AFTER_KILL_LINES
        self.stale = 0

    def take_summary(self, summ: kl.Summary, evidence: Evidence) -> None:
        """An ``oom-kill:`` line, or the second half of one split by an early 5.0 kernel."""
        if self.summary is None:
            self.summary = summ
        else:
            old = self.summary
            self.summary = kl.Summary(
                constraint=old.constraint or summ.constraint,
                oom_memcg=old.oom_memcg or summ.oom_memcg,
                task_memcg=old.task_memcg or summ.task_memcg,
                global_oom=old.global_oom or summ.global_oom,
                task=old.task or summ.task,
                pid=old.pid if old.pid is not None else summ.pid,
                uid=old.uid if old.uid is not None else summ.uid,
            )
        self.summary_open = self.summary.pid is None
        self.evidence.append(evidence)

    def take_selected(self, sel: kl.Selected, evidence: Evidence) -> None:
        """The ≤ 5.0 ``Kill process … or sacrifice child`` line (the first one counts)."""
        if self.selected is None:
            self.selected = sel
            self.evidence.append(evidence)

    def try_continuation(self, text: str, wrapped: Unwrapped) -> bool:
        """Join a copy/paste-wrapped tail (``8kB, file-rss:…``) to a cut ``Killed process`` line."""
        last = self.victims[-1]
        if last.line.complete or self.after_kill <= 0:
            return False
        if wrapped.time is not None or wrapped.uptime_s is not None or wrapped.ident is not None:
            return False
        if not text or not all(c.isalnum() or c in "-_:, " for c in text):
            return False
        joined = kl.killed(last.wrapped.text + text)
        if joined is None:
            return False
        merged = replace(last.wrapped, text=last.wrapped.text + text)
        evidence = Evidence(last.evidence.text + text, last.evidence.path, last.evidence.line)
        self.victims[-1] = Victim(joined, merged, evidence, last.lineno)
        self.after_kill -= 1
        return True

    def take_line(self, text: str, wrapped: Unwrapped, evidence: Evidence) -> None:
        """Any other kernel line of the report."""
        if self.no_killable:
            self.note_next(text)
            return
        if self.victims:
            if self.after_kill <= 0:
                return
            self.after_kill -= 1
            if (path := kl.group(text)) is not None:
                self.group_path = path
                self.evidence.append(evidence)
                self.after_kill = AFTER_KILL_LINES
            return
        if self._take_fact(text, evidence):
            self.stale = 0
        else:
            self.stale += 1

    def _take_fact(self, text: str, evidence: Evidence) -> bool:
        """Record what a line before the kill says; False when it says nothing we use."""
        if self.columns is not None or self.rows:
            row = kl.table_row(text, self.columns)
            if row is not None:
                if len(self.rows) < MAX_ROWS:
                    self.rows.append(row)
                return True
        if self.invoker_pid is None and (inv := kl.invoker(text)) is not None:
            self.invoker_pid = inv.pid
            self.invoker_process = self.invoker_process or inv.comm
            return True
        if (fr := kl.frames(text)) is not None:
            self.memcg_frame = self.memcg_frame or fr.memcg
            self.oom_frame = self.oom_frame or fr.oom
            self.alloc_frame = self.alloc_frame or fr.page_alloc
            return True
        if (summ := kl.summary(text)) is not None and ("oom-kill:" in text or self.summary_open):
            self.take_summary(summ, evidence)
            return True
        if (memsw := kl.usage(text, "memory+swap")) is not None:
            self.memsw = self.memsw or memsw
            return True
        if (use := kl.usage(text)) is not None:
            if self.usage is None:
                self.usage = use
                self.evidence.append(evidence)
            return True
        if (tin := kl.task_in(text)) is not None:
            self.task_in = tin
            self.evidence.append(evidence)
            return True
        if (path := kl.stats_for(text)) is not None:
            self.stats_memcg = self.stats_memcg or path
            return True
        if (columns := kl.table_columns(text)) is not None:
            self.columns = columns
            return True
        if (sel := kl.selected(text)) is not None:
            self.take_selected(sel, evidence)
            return True
        if "is already exiting" in text:
            # the kernel let a dying victim go: no kill in this report
            self.exiting = True
            self.evidence.append(evidence)
            return True
        if "no killable processes" in text or "panic_on_oom" in text:
            self.no_killable = True
            self.panic = self.panic or "panic" in text
            self.evidence.append(evidence)
            return True
        if text.startswith("Mem-Info"):
            self.mem_info = True
        elif self.columns is None and not self.rows and (row := kl.table_row(text, None)):
            # a table whose header line was lost
            self.rows.append(row)
            return True
        return False

    # -- the events ------------------------------------------------------------------------

    def cause(self) -> Cause:
        """Which OOM: a memory cgroup's limit, the whole host, or unknown (a lone kill line)."""
        prefixes = " ".join(
            [v.line.prefix for v in self.victims]
            + ([self.selected.prefix] if self.selected else [])
        ).lower()
        summ = self.summary
        if "memory cgroup" in prefixes:
            return Cause.KERNEL_OOM_MEMCG
        if "out of memory" in prefixes:
            return Cause.KERNEL_OOM_GLOBAL
        if summ is not None and (summ.constraint == "CONSTRAINT_MEMCG" or summ.oom_memcg):
            return Cause.KERNEL_OOM_MEMCG
        if summ is not None and (summ.global_oom or summ.constraint in _GLOBAL_CONSTRAINTS):
            return Cause.KERNEL_OOM_GLOBAL
        if self.task_in is not None or self.usage is not None or self.memcg_frame:
            return Cause.KERNEL_OOM_MEMCG
        if self.stats_memcg is not None:
            return Cause.KERNEL_OOM_MEMCG
        if self.mem_info or self.panic or self.sysrq or (self.alloc_frame and self.oom_frame):
            # show_mem() ("Mem-Info:") is only printed for a global OOM; the page allocator
            # calls out_of_memory() itself only for the whole host
            return Cause.KERNEL_OOM_GLOBAL
        if self.no_killable and self.after_no_killable:
            # "no killable processes" not followed by the panic: only a memcg (or sysrq)
            # OOM goes on after it
            return Cause.KERNEL_OOM_MEMCG
        return Cause.KERNEL_OOM_UNKNOWN_SCOPE

    def _page_kb(self) -> int:
        """Page size in kB, learned from the victim's total-vm (kB) vs its table row (pages)."""
        for victim in self.victims:
            total_kb = victim.line.value("total-vm")
            row = self._row_of(victim.line.pid)
            if total_kb and row is not None and row.total_vm_pages > 0:
                ratio = total_kb / row.total_vm_pages
                for size in _PAGE_SIZES_KB:
                    if abs(ratio - size) <= size * 0.02:
                        return size
        return 4

    def _row_of(self, pid: int) -> kl.RawRow | None:
        for row in self.rows:
            if row.pid == pid:
                return row
        for row in self.rows:
            if row.tgid == pid:
                return row
        return None

    def events(self) -> list[tuple[KillEvent, int]]:
        """One event per killed process (``killed=False`` for "no killable processes")."""
        cause = self.cause()
        summ = self.summary
        oom_memcg = (summ.oom_memcg if summ else None) or (
            self.task_in.oom_memcg if self.task_in else None
        )
        if oom_memcg is None and cause is Cause.KERNEL_OOM_MEMCG:
            oom_memcg = self.stats_memcg
        task_memcg = (summ.task_memcg if summ else None) or (
            self.task_in.task_memcg if self.task_in else None
        )
        page_kb = self._page_kb()
        top = tuple(
            TaskRow(
                pid=r.pid,
                name=r.name,
                rss_kb=r.rss_pages * page_kb,
                total_vm_kb=r.total_vm_pages * page_kb,
                oom_score_adj=r.oom_score_adj,
                uid=r.uid,
                tgid=r.tgid,
            )
            for r in sorted(_unique(self.rows), key=lambda r: (-r.rss_pages, r.pid))[:TOP_TASKS]
        )
        memcg = cause is Cause.KERNEL_OOM_MEMCG
        limit = self.usage
        if limit is not None and limit.limit_kb is None and self.memsw and self.memsw.limit_kb:
            # cgroup v1: only memory+swap was limited, so that is the limit that was hit
            limit = self.memsw
        base = KillEvent(
            cause=cause,
            source="kernel",
            limit_kb=limit.limit_kb if limit and memcg else None,
            usage_kb=limit.usage_kb if limit and memcg else None,
            failcnt=limit.failcnt if limit and memcg else None,
            oom_memcg=oom_memcg,
            constraint=summ.constraint if summ else None,
            invoker_pid=self.invoker_pid,
            invoker_process=self.invoker_process,
            top_tasks=top,
            time=self.first.time,
            uptime_s=self.first.uptime_s,
            epoch_s=self.first.epoch_s,
            host=self.first.host,
        )
        shared = sorted(self.evidence, key=lambda e: e.line)
        if not self.victims:
            if summ is not None and summ.pid is not None and not self.exiting:
                return [
                    (self._victim_event(base, None, summ.pid, summ.task, task_memcg, shared), 0)
                ]
            if self.no_killable:
                return [(base.with_changes(killed=False, evidence=tuple(shared)), 0)]
            if self.is_oom and not self.exiting:
                # a report cut before its victim line: an OOM of known scope, victim unknown
                selected = self.selected.pid if self.selected else None
                return [(base.with_changes(evidence=tuple(shared), selected_pid=selected), 0)]
            return []
        out: list[tuple[KillEvent, int]] = []
        for index, victim in enumerate(self.victims):
            own_memcg = task_memcg
            if index > 0:
                # a memory.oom.group member: its cgroup is the group's only when that is the
                # first victim's own cgroup (the usual Kubernetes container case)
                own_memcg = task_memcg if self.group_path == task_memcg else None
            event = self._victim_event(
                base, victim, victim.line.pid, victim.line.comm, own_memcg, shared
            )
            if index > 0:
                event = event.with_changes(selected_pid=None)
            out.append((event, victim.lineno))
        return out

    def _victim_event(
        self,
        base: KillEvent,
        victim: Victim | None,
        pid: int,
        process: str | None,
        task_memcg: str | None,
        shared: list[Evidence],
    ) -> KillEvent:
        row = self._row_of(pid)
        line = victim.line if victim else None
        adj = line.value("oom_score_adj") if line else None
        total_vm = line.value("total-vm") if line else None
        page_kb = self._page_kb()
        evidence = shared + ([victim.evidence] if victim else [])
        changes: dict[str, object] = {
            "pid": pid,
            "process": process or (row.name if row else None),
            "anon_rss_kb": line.value("anon-rss") if line else None,
            "file_rss_kb": line.value("file-rss") if line else None,
            "shmem_rss_kb": line.value("shmem-rss") if line else None,
            "total_vm_kb": total_vm
            if total_vm is not None
            else (row.total_vm_pages * page_kb if row else None),
            "oom_score_adj": adj if adj is not None else (row.oom_score_adj if row else None),
            "task_memcg": task_memcg,
            "limit_scope": _scope(base.cause, base.oom_memcg, task_memcg),
            "selected_pid": self.selected.pid if self.selected else None,
            "reason": (line.prefix if line and line.prefix else None)
            or (self.selected.prefix if self.selected and self.selected.prefix else None),
            "message": victim.wrapped.text if victim else None,
            "evidence": tuple(sorted(evidence, key=lambda e: e.line)),
        }
        if victim is not None:
            w = victim.wrapped
            changes.update(
                time=w.time or base.time,
                uptime_s=w.uptime_s if w.uptime_s is not None else base.uptime_s,
                epoch_s=w.epoch_s if w.epoch_s is not None else base.epoch_s,
                host=w.host or base.host,
            )
        return base.with_changes(**changes)


def unwrapped_text(line: str) -> str:
    """The message of a raw log line (its wrappers removed)."""
    return unwrap(line).text


def _unique(rows: list[kl.RawRow]) -> list[kl.RawRow]:
    """The first row of each pid (a log that repeats its lines repeats the table)."""
    return list({row.pid: row for row in reversed(rows)}.values())


def _scope(cause: Cause, oom_memcg: str | None, task_memcg: str | None) -> LimitScope | None:
    """OWN when the victim's own cgroup hit its limit, ANCESTOR for a parent's (a pod's)."""
    if cause is Cause.KERNEL_OOM_GLOBAL:
        return LimitScope.HOST
    if cause is not Cause.KERNEL_OOM_MEMCG or not oom_memcg or not task_memcg:
        return None
    if oom_memcg.rstrip("/") == task_memcg.rstrip("/"):
        return LimitScope.OWN
    parent = oom_memcg.rstrip("/") + "/"
    if task_memcg.startswith(parent):
        return LimitScope.ANCESTOR
    return None
