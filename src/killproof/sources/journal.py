"""Split a journal/syslog/dmesg line into its transport prefix and the message.

The line parsers for systemd, earlyoom and shell/Go output read text that people paste
from ``journalctl`` (any ``-o short*`` form), ``/var/log/syslog``, ``dmesg`` or a chat
message. This takes off what the transport added (time, host, ``ident[pid]:``, dmesg
timestamps, markdown quoting) and keeps the time the transport printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# Markdown quoting and bullets that a pasted log picks up ("> ", "- ", "* ").
_QUOTE = re.compile(r"^\s*(?:(?:>|\|)\s?|[-*]\s+)*\s*")
_TIME = re.compile(
    r"""^(?:
      (?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)
    | (?:[A-Z][a-z]{2}\ )?(?P<full>\d{4}-\d\d-\d\d\ \d\d:\d\d:\d\d(?:\ [A-Z]{2,5})?)
    | (?P<short>[^\s\d\[\]:]{2,12}\.?\ +\d{1,2}\ \d\d:\d\d:\d\d(?:\.\d+)?)
    )\s+""",
    re.X,
)
_HOST_IDENT = re.compile(
    r"^(?:(?P<host>[^\s\[\]:]+)\s+)?(?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?:\s"
)
_IDENT_ONLY = re.compile(r"^(?P<ident>[A-Za-z][\w.-]*)\[(?P<pid>\d+)\]:\s")
_DMESG = re.compile(r"^\[\s*(?:\d+\.\d+|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4})\]\s?")
_PRIORITY = re.compile(r"^<\d{1,3}>")


@dataclass(frozen=True)
class JournalLine:
    """One log line with its transport prefix taken apart.

    ``time`` is the timestamp as printed; ``epoch_s`` is seconds since 1970 only when the
    timestamp carries a date and a UTC offset (short-iso forms), else None.
    """

    text: str
    time: str | None = None
    epoch_s: float | None = None
    host: str | None = None
    ident: str | None = None
    ident_pid: int | None = None


def _epoch(iso: str) -> float | None:
    """Seconds since 1970 for an ISO 8601 time with an offset; None without one."""
    try:
        parsed = datetime.fromisoformat(iso.replace(",", ".").replace(" ", "T"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a local time without offset: no honest epoch
    return parsed.timestamp()


def split_journal_line(line: str) -> JournalLine:
    """Take a line apart; a line without a recognised prefix comes back as its own text."""
    rest = _QUOTE.sub("", line, count=1).rstrip()
    rest = _PRIORITY.sub("", rest, count=1)
    time: str | None = None
    epoch: float | None = None
    host: str | None = None
    ident: str | None = None
    ident_pid: int | None = None
    m = _TIME.match(rest)
    if m:
        time = m["iso"] or m["full"] or m["short"]
        if m["iso"]:
            epoch = _epoch(m["iso"])
        rest = rest[m.end() :]
        h = _HOST_IDENT.match(rest)
        if h:
            host, ident = h["host"], h["ident"]
            ident_pid = int(h["pid"]) if h["pid"] else None
            rest = rest[h.end() :]
    else:
        d = _DMESG.match(rest)
        if d:
            time = d.group(0).strip()[1:-1].strip()
            rest = rest[d.end() :]
    # Daemon lines forwarded through the kernel log: "kernel: [ 12.3] systemd[1]: …".
    if ident == "kernel":
        rest = _DMESG.sub("", rest, count=1)
    i = _IDENT_ONLY.match(rest)
    if i and (ident is None or ident == "kernel"):
        ident, ident_pid = i["ident"], int(i["pid"])
        rest = rest[i.end() :]
    return JournalLine(rest, time, epoch, host, ident, ident_pid)
