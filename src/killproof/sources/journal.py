"""A journal/syslog/dmesg line taken apart for the daemon-side parsers.

:func:`killproof.sources.logwrap.unwrap` removes every transport wrapper (journal and
syslog prefixes, dmesg and kmsg stamps, quoting); this adds what the systemd, earlyoom and
shell/Go parsers need on top: the ``ident[pid]:`` tag of a line that has no time in front
(``journalctl -o cat``-like pastes, ``systemd[1]: …`` forwarded through the kernel log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from killproof.sources.logwrap import unwrap

_IDENT_ONLY = re.compile(r"^(?P<ident>[A-Za-z][\w.-]*)\[\d+\]:\s")
# A syslog time the transport unwrapper did not know (a localized month, no hostname:
# "avril 16 21:08:50 systemd-oomd[93234]: …"): at most three words before the tag.
_IDENT_LATE = re.compile(
    r"^(?P<time>\S{1,32}(?: {1,2}\S{1,32}){1,2}) (?P<ident>[A-Za-z][\w.-]{0,63})\[\d{1,10}\]:\s"
)


@dataclass(frozen=True)
class JournalLine:
    """One log line with its transport prefix taken apart.

    ``time`` is the timestamp as printed; ``epoch_s`` is seconds since 1970 only when the
    timestamp carries a date and a UTC offset; ``uptime_s`` is seconds since boot from a
    dmesg/kmsg stamp.
    """

    text: str
    time: str | None = None
    epoch_s: float | None = None
    host: str | None = None
    ident: str | None = None
    uptime_s: float | None = None


def split_journal_line(line: str) -> JournalLine:
    """Take a line apart; a line without a recognised prefix comes back as its own text."""
    u = unwrap(line)
    text, ident = u.text, u.ident
    m = _IDENT_ONLY.match(text)
    if m and (ident is None or ident == "kernel"):
        ident = m["ident"]
        text = text[m.end() :]
    elif m is None and ident is None and u.time is None and (late := _IDENT_LATE.match(text)):
        return JournalLine(text[late.end() :], late["time"], None, None, late["ident"])
    return JournalLine(text, u.time, u.epoch_s, u.host, ident, u.uptime_s)
