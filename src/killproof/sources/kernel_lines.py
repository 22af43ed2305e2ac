"""Per-line recognisers for the kernel OOM report, for every kernel from 2.6.32 to 6.x.

Each function takes one unwrapped message (see :mod:`killproof.sources.logwrap`) and returns
a small frozen value, or None when the line is not of its kind. They never raise on garbage.
Formats are the kernel's own format strings as collected in the shared reference notes
(``mm/oom_kill.c`` and ``mm/memcontrol.c`` across releases, RHEL backports).

Units: everything named ``*_kb`` is kB as the kernel prints it; task-table values stay in
pages here (``*_pages``) because the page size is only known once the report is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_LIMIT_KB = 9007199254740988
"""``PAGE_COUNTER_MAX`` in kB on x86_64: the kernel prints it for "no limit"."""


@dataclass(frozen=True)
class Header:
    """``<comm> invoked oom-killer: …``: the task that *allocated*, never the victim."""

    comm: str


@dataclass(frozen=True)
class Invoker:
    """The dump_stack line ``CPU: 1 UID: 0 PID: 24653 Comm: x`` (2.6.32: ``Pid: N, comm: x``)."""

    pid: int
    comm: str


@dataclass(frozen=True)
class Killed:
    """A ``Killed process`` line: the task the kernel actually killed."""

    pid: int
    comm: str
    prefix: str
    """The text before ``Killed process`` (``Memory cgroup out of memory``, ``Out of memory``…)."""
    uid: int | None
    values: tuple[tuple[str, int], ...]
    """``key:N[kB]`` pairs in print order (``total-vm``, ``anon-rss``, ``oom_score_adj``…)."""
    complete: bool
    """False when the line looks cut off (a copy/paste wrap): its continuation may follow."""

    def value(self, key: str) -> int | None:
        """The number printed after ``key:`` (kB for sizes), or None."""
        for k, v in self.values:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class Selected:
    """``Kill process N (x) score S or sacrifice child`` (≤ 5.0): chosen, not necessarily killed."""

    pid: int
    comm: str
    prefix: str


@dataclass(frozen=True)
class Summary:
    """The ≥ 5.0 one-line summary ``oom-kill:constraint=…,task=…,pid=…,uid=…`` (or a part of it)."""

    constraint: str | None
    oom_memcg: str | None
    task_memcg: str | None
    global_oom: bool
    task: str | None
    pid: int | None
    uid: int | None


@dataclass(frozen=True)
class Usage:
    """``memory: usage …kB, limit …kB, failcnt …`` of the cgroup that hit its limit."""

    usage_kb: int
    limit_kb: int | None
    """None when the kernel printed its "no limit" value."""
    failcnt: int


@dataclass(frozen=True)
class TaskIn:
    """``Task in <task_memcg> killed as a result of limit of <oom_memcg>`` (≤ 4.19)."""

    task_memcg: str
    oom_memcg: str


@dataclass(frozen=True)
class Reaped:
    """``oom_reaper: reaped process N (x), now anon-rss:…`` or ``unable to reap pid:N (x)``."""

    pid: int
    comm: str


@dataclass(frozen=True)
class Frames:
    """What one call-trace line says about the OOM's scope (any unwinder's format: x86
    ``func+0x1/0x2``, ``[<addr>] ? func``, ARM ``(func) from (caller)``)."""

    memcg: bool
    """A memory cgroup charge or OOM frame (``mem_cgroup_out_of_memory``, ``try_charge``…)."""
    oom: bool
    """The OOM killer's own frames (``out_of_memory``, ``oom_kill_process``, the memcg OOM
    entry points): a charge frame alone may be any memcg warning's stack."""
    page_alloc: bool
    """The page allocator (``__alloc_pages*``): a global OOM when no memcg frame is seen."""


@dataclass(frozen=True)
class RawRow:
    """One task-table row, still in pages (``pgtables_bytes`` is ignored)."""

    pid: int
    name: str
    rss_pages: int
    total_vm_pages: int
    oom_score_adj: int
    uid: int | None
    tgid: int | None


# Every pattern runs in time linear in the line (a log line is untrusted and may be 1 MiB):
# numbers and names have bounded repeats, and no two unbounded repeats can share a character
# where the pattern may still fail. A kernel prints a pid in at most 7 digits and a comm in at
# most 15 bytes; the bounds are far above that. "(?!\d)" where a bounded number may end the
# match: a longer digit run is not a number, not its first digits.
_INVOKER = re.compile(
    r"(?:CPU: \d{1,10} (?:UID: \d{1,10} )?PID: (\d{1,10}) Comm: |Pid: (\d{1,10}), comm: )(.*?)"
    r"(?: (?:Not tainted|Tainted:).*)?$"
)
_KILLED = re.compile(r"Killed process\s{1,8}(\d{1,10})(?:,\s*UID (\d{1,10}),)?\s*\((.*)\)(.*)$")
_KILLED_LAZY = re.compile(
    r"Killed process\s{1,8}(\d{1,10})(?:,\s*UID (\d{1,10}),)?\s*\((.*?)\)(.*)$"
)
_KILLED_NO_COMM = re.compile(r"Killed process\s{1,8}(\d{1,10})(?!\d)(.*)$")
_TAIL_UID = re.compile(r",?\s*UID \d{1,10},")
# A key starts a word (the lookbehind), so a long word is tried once, not from every letter;
# the key is then the word from its first ASCII letter or "_" on.
# A size may come with thousands separators a collector or a paste added ("153,700,88kB"):
# digits and commas right up to "kB" are one number; "0, UID" is 0 then the next pair.
_KV = re.compile(
    r"(?<![\w-])([\w-]+):\s?(-?\d{1,19}(?!\d|,\d)|\d{1,19}(?:,\d{1,3}){1,6}(?=kB|KB))"
    r"(?:kB|KB)?\b"
)
_KEY_START = re.compile(r"[A-Za-z_]")
_RHEL7_UID = re.compile(r"^,?\s*UID (\d{1,10}),")
_SCORE_ADJ_TAIL = re.compile(r"oom_score_adj:-?\d+$")
_SELECTED = re.compile(
    r"[Kk]ill process\s{1,8}(\d{1,10}) \((.{0,64})\) score -?\d{1,10} (?:or sacrifice child|and children)"
)
_SUMMARY_KEYS = {
    "constraint": re.compile(r"constraint=([^,]*)"),
    "oom_memcg": re.compile(r"oom_memcg=(.*?)(?:,task_memcg=|,task=|$)"),
    "task_memcg": re.compile(r"task_memcg=(.*?)(?:,task=|$)"),
}
_SUMMARY_TASK = re.compile(r"task=(.*),pid=(\d{1,10})(?!\d)(?:,uid=(\d{1,10})(?!\d))?")
_USAGE = re.compile(
    r"(memory|memory\+swap): usage (\d{1,19})kB, limit (\d{1,19})kB, failcnt (\d{1,19})(?!\d)"
)
_TASK_IN = re.compile(r"Task in (.*) killed as a result of limit of (.*)$")
_STATS_FOR = re.compile(r"Memory cgroup stats for (.*?):")
_GROUP = re.compile(r"Tasks in (.*) are going to be killed due to memory\.oom\.group set")
_REAPED = re.compile(r"oom_reaper: (?:reaped process |unable to reap pid:)(\d{1,10}) \((.{0,64})\)")
# Whole function names only, as an unwinder prints a frame: "name+0x…" (x86, arm64, old ARM
# "(name+0x…)"), "(name)" or "name from caller" (ARM); a compiler suffix (".cold.33") may
# follow the name. "\b" keeps "mem_cgroup_charge_statistics" or "unlock_page_memcg"
# (bookkeeping helpers) out; the frame shape keeps a program's "x.out_of_memory()" out.
_FRAME_END = r"(?:\.[\w.]{1,24})?(?:\+0x|\)| from )"
_MEMCG_FRAME = re.compile(
    r"\b(?:mem_cgroup_out_of_memory|try_charge(?:_memcg)?|mem_cgroup_try_charge(?:_delay)?"
    r"|mem_cgroup_oom_synchronize|memory_max_write|mem_cgroup_oom)" + _FRAME_END
)
_OOM_FRAME = re.compile(
    r"\b(?:out_of_memory|oom_kill_process|mem_cgroup_out_of_memory|mem_cgroup_oom_synchronize)"
    + _FRAME_END
)
_ALLOC_FRAME = re.compile(r"\b__alloc_pages(?:_slowpath|_nodemask)?" + _FRAME_END)
_FRAME_WORDS = (
    "out_of_memory",
    "oom_kill_process",
    "charge",
    "mem_cgroup_oom",
    "memory_max",
    "__alloc_pages",
)
"""Substrings one of which every scope frame contains (a cheap test before the regexes)."""
_ROW = re.compile(r"\[\s*(\d{1,10})\]\s+(.*)$")
MAX_DIGITS = 19
"""Longest number read from a line (a 64-bit value); longer digit runs are not numbers here."""


def _int(text: str | None) -> int | None:
    if text is None or not text.isdecimal() or len(text) > MAX_DIGITS:
        return None
    return int(text)


def _prefix(text: str, at: int) -> str:
    return text[:at].rstrip().rstrip(":").strip()


def header(text: str) -> Header | None:
    """The header line naming the allocating task."""
    at = text.find(" invoked oom-killer:")
    return Header(comm=text[:at].strip()) if at >= 0 else None


def invoker(text: str) -> Invoker | None:
    """The dump_stack line with the allocating task's pid (a thread id: not the victim)."""
    if not (text.startswith("CPU:") or text.startswith("Pid:")):
        return None
    m = _INVOKER.match(text)
    if not m:
        return None
    return Invoker(pid=int(m.group(1) or m.group(2)), comm=m.group(3).strip())


def _plain_tail(tail: str) -> bool:
    """True when what follows ``(comm)`` reads as a victim line's own tail (a UID, the
    ``total-vm:`` pairs, or nothing): the ``)`` found was the comm's closing one."""
    rest = tail.lstrip()
    if uid := _TAIL_UID.match(rest):
        rest = rest[uid.end() :].lstrip()
    return rest.startswith("total-vm:") or rest.rstrip() in ("", ".")


def _pairs(tail: str) -> tuple[tuple[str, int], ...]:
    """``key:N[kB]`` pairs in print order; a key starts at its first ASCII letter or ``_``."""
    out = []
    for word, number in _KV.findall(tail):
        start = _KEY_START.search(word)
        if start is not None:
            out.append((word[start.start() :], int(number.replace(",", ""))))
    return tuple(out)


def _complete(tail: str) -> bool:
    """False when a victim line looks cut off (its continuation may follow)."""
    end = tail.rstrip()
    return not end or end.endswith(("kB", ".")) or bool(_SCORE_ADJ_TAIL.search(end))


def killed(text: str) -> Killed | None:
    """Any ``Killed process`` variant (RHEL 6/7 UID placements, prefixes, extra pairs)."""
    at = text.find("Killed process")
    if at < 0:
        return None
    body = text[at:]
    m = _KILLED.match(body)
    if m and m.group(4) and not _plain_tail(m.group(4)):
        m = _KILLED_LAZY.match(body) or m  # a ')' after the comm: fall back to the first one
    if m:
        pid, uid_text, comm, tail = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    else:
        bare = _KILLED_NO_COMM.match(body)
        if not bare:
            return None
        pid, uid_text, comm, tail = int(bare.group(1)), None, "", bare.group(2)
    uid = _int(uid_text)
    if uid is None and (r7 := _RHEL7_UID.match(tail)):
        uid = int(r7.group(1))
    values = _pairs(tail)
    if uid is None:
        uid = next((v for k, v in values if k == "UID"), None)
    return Killed(pid, comm, _prefix(text, at), uid, values, _complete(tail))


def selected(text: str) -> Selected | None:
    """The ≤ 5.0 selection line; its pid is only the candidate."""
    if "ill process" not in text:
        return None
    m = _SELECTED.search(text)
    if not m:
        return None
    return Selected(int(m.group(1)), m.group(2), _prefix(text, m.start()))


def summary(text: str) -> Summary | None:
    """The ``oom-kill:`` line, or its second half (``,global_oom,…``) split off by early 5.0."""
    at = text.find("oom-kill:")
    if at >= 0:
        body = text[at + len("oom-kill:") :]
    elif text.startswith(",") and ("task=" in text or "_memcg=" in text or "global_oom" in text):
        body = text
    else:
        return None
    found = {
        key: m.group(1) if (m := rx.search(body)) else None for key, rx in _SUMMARY_KEYS.items()
    }
    # the first "task=" that starts the text or follows a comma; the greedy match then finds
    # the last ",pid=N" after it (one attempt, so linear in the line)
    start = 0 if body.startswith("task=") else body.find(",task=") + 1
    task = _SUMMARY_TASK.match(body, start) if start > 0 or body.startswith("task=") else None
    return Summary(
        constraint=found["constraint"] or None,
        oom_memcg=found["oom_memcg"] or None,
        task_memcg=found["task_memcg"] or None,
        global_oom="global_oom" in body,
        task=task.group(1) if task else None,
        pid=int(task.group(2)) if task else None,
        uid=_int(task.group(3)) if task else None,
    )


def usage(text: str, counter: str = "memory") -> Usage | None:
    """The ``memory:`` (or, with ``counter="memory+swap"``, the cgroup v1 memsw) line of the
    memcg block."""
    if not text.startswith(counter + ": usage"):
        return None
    m = _USAGE.match(text)
    if not m or m.group(1) != counter:
        return None
    limit = int(m.group(3))
    return Usage(int(m.group(2)), None if limit >= NO_LIMIT_KB else limit, int(m.group(4)))


def task_in(text: str) -> TaskIn | None:
    """The ≤ 4.19 line naming the victim's cgroup and the cgroup whose limit was hit."""
    if not text.startswith("Task in "):
        return None
    m = _TASK_IN.match(text)
    return TaskIn(m.group(1), m.group(2).rstrip()) if m else None


def stats_for(text: str) -> str | None:
    """The cgroup path of a ``Memory cgroup stats for <path>:`` line."""
    if not text.startswith("Memory cgroup stats for"):
        return None
    m = _STATS_FOR.match(text)
    return m.group(1) if m else None


def group(text: str) -> str | None:
    """The cgroup of ``Tasks in <path> are going to be killed due to memory.oom.group set``."""
    at = text.find("Tasks in ")
    if "memory.oom.group" not in text or at < 0:
        return None
    m = _GROUP.match(text, at)  # greedy: one attempt at the first "Tasks in " (linear)
    return m.group(1) if m else None


def reaped(text: str) -> Reaped | None:
    """An ``oom_reaper:`` line: evidence for an earlier kill, never a kill itself."""
    if "oom_reaper:" not in text:
        return None
    m = _REAPED.search(text)
    return Reaped(int(m.group(1)), m.group(2)) if m else None


def frames(text: str) -> Frames | None:
    """The scope-deciding frames named on a call-trace line, or None when it names none."""
    if not any(word in text for word in _FRAME_WORDS):
        return None
    memcg = _MEMCG_FRAME.search(text) is not None
    oom = _OOM_FRAME.search(text) is not None
    alloc = _ALLOC_FRAME.search(text) is not None
    if not (memcg or oom or alloc):
        return None
    return Frames(memcg=memcg, oom=oom, page_alloc=alloc)


def table_columns(text: str) -> tuple[str, ...] | None:
    """Column names of a task-table header (``[ pid ]   uid  tgid total_vm      rss …  name``)."""
    if not text.startswith("[") or "pid" not in text[:12] or not text.rstrip().endswith("name"):
        return None
    close = text.find("]")
    columns = tuple(text[close + 1 :].split())
    if "rss" not in columns or "total_vm" not in columns:
        return None
    return columns


def table_row(text: str, columns: tuple[str, ...] | None) -> RawRow | None:
    """One task-table row, read by the header's column names (or guessed from its shape)."""
    m = _ROW.match(text)
    if m:
        pid, rest = int(m.group(1)), m.group(2)
    elif columns is not None and (text[:1].isspace() or text[:1].isdecimal()):
        # a broken time stamp ate the "[  pid  ]" column: the tgid stands in for it
        pid, rest = -1, text
    else:
        return None
    if columns is not None:
        parts = rest.split(None, len(columns) - 1)
        if len(parts) != len(columns):
            return None
        numbers, name = parts[:-1], parts[-1]
        names = columns[:-1]
    else:
        tokens = rest.split()
        count = 0
        while count < len(tokens) - 1 and tokens[count].lstrip("-").isdecimal():
            count += 1
        if count < 5:
            return None
        numbers = tokens[:count]
        name = rest.split(None, count)[-1]
        # every layout starts uid tgid total_vm rss and ends with oom_score_adj
        names = ("uid", "tgid", "total_vm", "rss", *("x",) * (count - 5), "oom_score_adj")
    try:
        by_name = {n: int(v) for n, v in zip(names, numbers, strict=True)}
    except ValueError:
        return None
    if "rss" not in by_name or "total_vm" not in by_name:
        return None
    if pid < 0:
        if columns is None or by_name.get("tgid") is None:
            return None
        pid = by_name["tgid"]
    return RawRow(
        pid=pid,
        name=name.strip()[:64],  # a comm is at most 15 bytes
        rss_pages=by_name["rss"],
        total_vm_pages=by_name["total_vm"],
        oom_score_adj=by_name.get("oom_score_adj", 0),
        uid=by_name.get("uid"),
        tgid=by_name.get("tgid"),
    )
