"""The linear-time readers conclude what the backtracking ones did, on lines of normal size.

The patterns replaced for linear time (tests/test_why_linear.py) are kept here as they
were, and both are run on real evidence lines and small mutations of them: every field
they read must agree. Known, deliberate differences are excluded from the generated lines
and listed: numbers of more than 10 digits (pids) or 19 (sizes) are not numbers any more,
a name in parentheses is at most 64 characters, and a pid may follow more than one space.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.sources import kernel_lines as kl
from killproof.sources.exits import ExitLineParser
from killproof.sources.k8s_messages import system_oom_victim
from killproof.sources.k8s_text import _FIELD, _TOP

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# -- the previous patterns, verbatim -------------------------------------------------------
OLD_HEADER = re.compile(r"(.*?) invoked oom-killer:")
OLD_KILLED = re.compile(r"Killed process (\d+)(?:,\s*UID (\d+),)?\s*\((.*)\)(.*)$")
OLD_KILLED_LAZY = re.compile(r"Killed process (\d+)(?:,\s*UID (\d+),)?\s*\((.*?)\)(.*)$")
OLD_KILLED_NO_COMM = re.compile(r"Killed process (\d+)(.*)$")
OLD_KV = re.compile(r"([A-Za-z_][\w-]*):\s?(-?\d+)(?:kB|KB)?\b")
OLD_RHEL7_UID = re.compile(r"^,?\s*UID (\d+),")
OLD_COMPLETE_TAIL = re.compile(r"(?:kB|oom_score_adj:-?\d+|\.)\s*$")
OLD_SUMMARY_TASK = re.compile(r"(?:^|,)task=(.*),pid=(\d+)(?:,uid=(\d+))?")
OLD_TASK_IN = re.compile(r"Task in (.*) killed as a result of limit of (.*?)\s*$")
OLD_GROUP = re.compile(r"Tasks in (.*) are going to be killed due to memory\.oom\.group set")
OLD_SELECTED = re.compile(
    r"[Kk]ill process (\d+) \((.*)\) score -?\d+ (?:or sacrifice child|and children)"
)
OLD_REAPED = re.compile(r"oom_reaper: (?:reaped process |unable to reap pid:)(\d+) \((.*)\)")
OLD_GO_SIGNAL = re.compile(r"(?:(?P<who>\S+):\s+)?signal: (?P<name>killed|terminated)\b")
OLD_GO_STATUS = re.compile(r"(?:(?P<who>\S+):\s+)?exit status (?P<code>137|143)\b")
OLD_BASH_LINE = re.compile(
    r"line \d+:\s+(?P<pid>\d+)\s+(?P<name>Killed|Terminated)\s+(?P<cmd>.+?)\s*$"
)
OLD_BASH_JOB = re.compile(
    r"^\[\d+\][+-]?\s+(?:(?P<pid>\d+)\s+)?(?P<name>Killed|Terminated)\s+(?P<cmd>.+?)\s*$"
)
OLD_ZSH = re.compile(r"^zsh: (?P<name>killed|terminated)\s+(?P<cmd>.+?)\s*$")
OLD_ZSH_JOB = re.compile(
    r"^\[\d+\]\s+[+-]?\s*(?P<pid>\d+) (?P<name>killed|terminated)\s+(?P<cmd>.+?)\s*$"
)
OLD_SYSTEM_OOM = re.compile(
    r"System OOM encountered, victim process: (?P<comm>[^,]*?)(?:, pid: (?P<pid>\d+))?\s*$"
)
OLD_TOP = re.compile(r"^(?P<key>[A-Z][\w /-]*?):(?:\s+(?P<value>.*?))?\s*$")
OLD_FIELD = re.compile(r"^(?P<indent> {4,})(?P<key>[A-Z][\w ]*?):(?:\s+(?P<value>.*?))?\s*$")


def old_killed(text: str) -> tuple[Any, ...] | None:
    at = text.find("Killed process")
    if at < 0:
        return None
    body = text[at:]
    m = OLD_KILLED.match(body)
    tail_ok = r"\s*(?:,?\s*UID \d+,\s*)?(?:total-vm:|\.?\s*$)"
    if m and m.group(4) and not re.match(tail_ok, m.group(4)):
        m = OLD_KILLED_LAZY.match(body) or m
    if m:
        pid, uid_text, comm, tail = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    else:
        bare = OLD_KILLED_NO_COMM.match(body)
        if not bare:
            return None
        pid, uid_text, comm, tail = int(bare.group(1)), None, "", bare.group(2)
    uid = int(uid_text) if uid_text is not None and uid_text.isdecimal() else None
    if uid is None and (r7 := OLD_RHEL7_UID.match(tail)):
        uid = int(r7.group(1))
    values = tuple((k, int(v)) for k, v in OLD_KV.findall(tail))
    if uid is None:
        uid = next((v for k, v in values if k == "UID"), None)
    complete = not tail.strip() or bool(OLD_COMPLETE_TAIL.search(tail))
    return (pid, comm, text[:at].rstrip().rstrip(":").strip(), uid, values, complete)


def new_killed(text: str) -> tuple[Any, ...] | None:
    k = kl.killed(text)
    return None if k is None else (k.pid, k.comm, k.prefix, k.uid, k.values, k.complete)


def old_summary_task(text: str) -> tuple[str | None, str | None, str | None] | None:
    at = text.find("oom-kill:")
    body = text[at + len("oom-kill:") :] if at >= 0 else text
    m = OLD_SUMMARY_TASK.search(body)
    if m is None:
        return None
    # Numbers compare as numbers: a mutated "uid=01" is uid 1 to both readers.
    return (m.group(1), str(int(m.group(2))), None if m.group(3) is None else str(int(m.group(3))))


def new_summary_task(text: str) -> tuple[str | None, str | None, str | None] | None:
    s = kl.summary(text if "oom-kill:" in text else "oom-kill:" + text)
    if s is None or s.pid is None:
        return None
    return (s.task, str(s.pid), None if s.uid is None else str(s.uid))


def old_exit(text: str) -> tuple[Any, ...] | None:
    text = text.strip()
    if m := OLD_BASH_LINE.search(text) or OLD_BASH_JOB.match(text) or OLD_ZSH_JOB.match(text):
        return ("shell", m["pid"], m["cmd"].split()[0], m["name"].lower())
    if m := OLD_ZSH.match(text):
        return ("shell", None, m["cmd"].split()[0], m["name"])
    if m := OLD_GO_SIGNAL.search(text) or OLD_GO_STATUS.search(text):
        who = m["who"] if m["who"] and "/" in m["who"] else None
        return ("go", None, who, m.groupdict().get("name") or m.groupdict().get("code"))
    return None


NEW_EXIT = ExitLineParser("x")


def new_exit(text: str) -> tuple[Any, ...] | None:
    # the parser's own view of the same fields (bare "Killed" lines are a separate case)
    text = text.strip()
    if re.fullmatch(r"(?:Killed|Terminated)\s*", text):
        return None
    [*events] = NEW_EXIT.feed(1, text)
    if not events:
        return None
    [e] = events
    return (e.source, e.pid, e.process, e.signal, e.exit_code)


def _lines() -> list[str]:
    out: set[str] = set()
    for folder in ("kernel", "evidence", "why"):
        for path in sorted((FIXTURES / folder).iterdir()):
            if path.is_file() and path.suffix in (".log", ".txt", ".journal", ".syslog"):
                out.update(x for x in path.read_text(errors="replace").splitlines() if x)
    out.update(
        [
            "go build x: /usr/local/go/pkg/tool/linux_amd64/compile: signal: killed",
            "error: signal: terminated",
            "./run.sh: line 3:  4242 Killed                  ./orders --port 8080",
            "[1]+  Killed                  ./orders",
            "zsh: killed     ./orders --port 8080",
            "[1]  + 4242 killed     ./orders",
            "2024/05/07 supervisor: child exited: exit status 137",
            "System OOM encountered, victim process: orders, pid: 4187",
            "System OOM encountered, victim process: orders",
            "Task in /a/b killed as a result of limit of /a   ",
            "Tasks in /x.slice are going to be killed due to memory.oom.group set",
            "Out of memory: Kill process 1190 (node) score 812 or sacrifice child",
            "oom_reaper: reaped process 1190 (node), now anon-rss:0kB, file-rss:0kB",
            "Name:          orders-7d9f8b6c5-x2x4q",
            "    Last State:     Terminated   ",
        ]
    )
    return sorted(out)


LINES = _lines()
TOKENS = [" ", "  ", ")", "(", ",", ":", "kB", ".", "x", "UID 7,", " killed ", "Killed ", "1"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(LINES))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(line)))
        if draw(st.booleans()):
            line = line[:at] + draw(st.sampled_from(TOKENS)) + line[at:]
        else:
            line = line[:at] + line[at + draw(st.integers(1, 4)) :]
    return line


def comparable(line: str) -> bool:
    """Lines outside the deliberate differences: long numbers, long parenthesised names,
    sizes with thousands separators (``anon-rss:153,700,88kB``, now read whole) and a pid
    after more than one space (``Killed process  3310``, now read)."""
    return not (
        re.search(r"\d{11}", line)
        or re.search(r"\([^)]{65}", line)
        or re.search(r"\d,\d", line)
        or re.search(r"[Kk]illed process\s{2}", line)
    )


def compare(line: str) -> None:
    if not comparable(line):
        return
    old_header = OLD_HEADER.search(line)
    new_header = kl.header(line)
    assert (old_header.group(1).strip() if old_header else None) == (
        new_header.comm if new_header else None
    )
    assert old_killed(line) == new_killed(line)
    assert old_summary_task(line) == new_summary_task(line)
    if line.startswith("Task in "):
        m = OLD_TASK_IN.match(line)
        t = kl.task_in(line)
        assert (m.groups() if m else None) == ((t.task_memcg, t.oom_memcg) if t else None)
    if "memory.oom.group" in line:
        m = OLD_GROUP.search(line)
        assert (m.group(1) if m else None) == kl.group(line)
    if "ill process" in line:
        m = OLD_SELECTED.search(line)
        s = kl.selected(line)
        assert (m.group(1, 2) if m else None) == ((str(s.pid), s.comm) if s else None)
    if "oom_reaper:" in line:
        m = OLD_REAPED.search(line)
        r = kl.reaped(line)
        assert (m.group(1, 2) if m else None) == ((str(r.pid), r.comm) if r else None)
    old = OLD_SYSTEM_OOM.search(line)
    new = system_oom_victim(line)
    assert (None if old is None else (old["comm"].strip(), old["pid"])) == (
        None if new is None else (new[0], None if new[1] is None else str(new[1]))
    )
    text = line.rstrip()
    for old_rx, new_rx in ((OLD_TOP, _TOP), (OLD_FIELD, _FIELD)):
        o, n = old_rx.match(text), new_rx.match(text)
        assert (o is None) == (n is None)
        if o and n:
            assert (o["key"], o["value"] or "") == (n["key"], (n["value"] or "").rstrip())


def compare_exit(line: str) -> None:
    if not comparable(line):
        return
    old, new = old_exit(line), new_exit(line)
    if old is None or new is None:
        assert old is None and new is None, (old, new)
        return
    source, pid, word, name = old
    signal = {"killed": "SIGKILL", "terminated": "SIGTERM", "137": "SIGKILL", "143": "SIGTERM"}
    assert (new[0], new[3]) == (source, signal[name])
    assert new[1] == (int(pid) if pid else None)
    if source == "shell":
        name_of = word.rstrip(":").strip("\"'").rsplit("/", 1)[-1]
        assert new[2] == (name_of or None)  # no name is None now, not ""
    else:
        assert new[2] == (word.rstrip(":").strip("\"'").rsplit("/", 1)[-1] if word else None)


def test_every_real_line_reads_the_same() -> None:
    for line in LINES:
        compare(line)
        compare_exit(line)


@settings(max_examples=600, deadline=None)
@given(line=mutated())
def test_mutated_real_lines_read_the_same(line: str) -> None:
    compare(line)
    compare_exit(line)
