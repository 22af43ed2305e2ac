"""Strip the transport wrappers around a log line and keep what they said about time and host.

The same kernel message reaches a user through many hands: raw ``dmesg`` (``[ 1584.622990] ``),
``dmesg -T``/``-H``/``-x``/``--time-format iso|delta``, ``journalctl`` (short, short-iso,
short-precise, short-full, short-unix, short-monotonic, ``-o cat``, ``-o json``), syslog files (``Mar  2 17:35:10 host kernel: [2858609.598568] ``),
``/dev/kmsg`` records (``6,1234,5678901,-;``), ``<6>`` priorities inside another product's
console log, and the quoting of an issue or a chat (``> ``, indents, ``- `` bullets).
:func:`unwrap` peels these off in that order and returns the message text the kernel printed.

It is tolerant (an unknown prefix is left in the text, never an error) and cheap: a handful
of anchored regexes per line, run only on the lines a parser asked for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Unwrapped:
    """One log line with its transport wrappers removed."""

    text: str
    """The message as its writer printed it (no timestamp, host or syslog tag)."""
    time: str | None = None
    """The timestamp exactly as the wrapper printed it (``Thu Nov 26 15:48:44 2026``…)."""
    uptime_s: float | None = None
    """Seconds since boot, from a ``[ 1584.622990]`` stamp or a kmsg record."""
    epoch_s: float | None = None
    """Seconds since 1970, only when the stamp carries a date and a UTC offset."""
    host: str | None = None
    """Host name from a syslog/journal prefix."""
    ident: str | None = None
    """Syslog identifier (``kernel``, ``systemd``…) when the transport names the writer."""


# Markdown/e-mail quoting, list bullets and indentation that people add when they paste logs.
_DECOR = re.compile(r"(?:[ \t]*(?:>+|[-*+•](?=[ \t]))[ \t]?)*[ \t]*")
# dmesg -x: "kern  :info  : ".
_FACILITY = re.compile(
    r"(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7]) *:"
    r"(?:emerg|alert|crit|err|warn|notice|info|debug) *: "
)
# /dev/kmsg: "PRIORITY,SEQ,USEC,FLAGS[,...];MESSAGE".
_KMSG = re.compile(r"(\d{1,3}),\d{1,20},(\d{1,20}),[^;]{0,40};")
_PRIORITY = re.compile(r"<\d{1,3}>")
# dmesg --time-format iso, journalctl -o short-iso / short-iso-precise, RFC 5424 syslog.
_ISO = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?)"
    r"(?:[ \t]+|\|[ \t]*)"  # a hypervisor's log writes "stamp| vcpu-0| …"
)
# journalctl -o short / short-precise and BSD syslog; the month may be localized (апр, 5月).
_SYSLOG = re.compile(r"(\S{1,12}[ \t]+\d{1,2}[ \t]+\d\d:\d\d:\d\d(?:\.\d{1,9})?)[ \t]+")
# journalctl -o short-full ("Tue 2024-05-07 21:43:54 CEST") and -o short-unix ("1715111034.123").
_FULL = re.compile(
    r"(\S{1,4} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? ([A-Za-z][\w+:-]{0,9}))[ \t]+"
)
_UNIX = re.compile(r"(\d{9,11}(?:\.\d{1,9})?)[ \t]+")
# "host ident[pid]: " after a syslog/journal/ISO time.
_HOST_IDENT = re.compile(r"([\w.:-]{1,253})[ \t]+([\w.@/-]{1,64})(?:\[\d{1,10}\])?:[ \t]?")
# talosctl dmesg: "<node>: <facility>: <level>: [<RFC 3339 time>]: ".
_TALOS = re.compile(
    r"([\w.:-]{1,253}): ([a-z]{3,8}) {0,8}: {0,8}(?:emerg|alert|crit|err|warning|warn|notice|info"
    r"|debug) {0,8}: \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d))\]: "
)
_KERNEL_TAG = re.compile(r"kernel(?:\[\d{1,10}\])?:[ \t]?")
_UPTIME = re.compile(r"\[[ \t]*(\d{1,10}\.\d{1,9})\][ \t]?")
# dmesg -T (ctime, day space-padded); tolerate localized day/month names.
_CTIME = re.compile(r"\[(\S{1,12} \S{1,12} {1,2}\d{1,2} \d\d:\d\d:\d\d \d{4})\][ \t]?")
# dmesg -H: "[Mar19 10:02]" for a new minute, "[  +0.000003]" for the delta since the last line;
# dmesg --time-format delta: "[<    0.000123>]".
_HUMAN = re.compile(
    r"\[(\S{1,12}\d{1,2} \d\d:\d\d|[ \t]*[+-]\d{1,10}(?:\.\d{1,9})?|<[ \t]*\d{1,10}\.\d{1,9}>)\]"
    r"[ \t]?"
)
# CONFIG_PRINTK_CALLER: "[ T24653] " or "[    C1] " right after the time stamp.
_CALLER = re.compile(r"\[[ \t]*[TC]\d{1,10}\][ \t]?")
# A kernel stamp somewhere inside another product's prefix (a hypervisor's guest console).
_EMBEDDED = re.compile(r"(?:<\d{1,3}>)?\[[ \t]*(\d{1,10}\.\d{6})\][ \t]?")


def _epoch(stamp: str) -> float | None:
    """Seconds since 1970 for an ISO stamp with an offset; None when the offset is missing."""
    text = stamp.replace(",", ".").replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]  # +0200 → +02:00
    if "." in text:
        # fromisoformat takes at most 6 fraction digits before 3.12
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = head + "." + tail[: min(digits, 6)].ljust(6, "0") + tail[digits:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _journal_json(text: str) -> Unwrapped | None:
    """One ``journalctl -o json`` record; None when the line is not one."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        return None
    if not isinstance(record, dict):
        return None
    message = record.get("MESSAGE")
    if isinstance(message, list):  # journald's form of a message that is not UTF-8
        try:
            message = bytes(message).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    if not isinstance(message, str):
        return None
    epoch = _number(record.get("__REALTIME_TIMESTAMP"), 1e6)
    try:
        time = datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None
    except (ValueError, OverflowError, OSError):  # past year 9999: not a real clock
        time, epoch = None, None
    host, ident = record.get("_HOSTNAME"), record.get("SYSLOG_IDENTIFIER")
    return Unwrapped(
        text=message.rstrip(),
        time=time,
        # the kernel's own print time; __MONOTONIC_TIMESTAMP is when journald got it
        uptime_s=_number(record.get("_SOURCE_MONOTONIC_TIMESTAMP"), 1e6),
        epoch_s=epoch,
        host=host if isinstance(host, str) else None,
        ident=ident if isinstance(ident, str) else None,
    )


def _number(value: object, per_second: float) -> float | None:
    """A journald microsecond field (a decimal string) in seconds."""
    if isinstance(value, str) and value.isdecimal() and len(value) < 20:
        return int(value) / per_second
    return None


def unwrap(line: str) -> Unwrapped:
    """Remove transport wrappers from ``line`` (no trailing newline needed).

    Never raises: a prefix it does not know stays part of ``text``.
    """
    text = line.rstrip("\r\n")
    text = text[_DECOR.match(text).end() :]  # type: ignore[union-attr]  # always matches
    time: str | None = None
    uptime: float | None = None
    epoch: float | None = None
    host: str | None = None
    ident: str | None = None

    if text.startswith("{") and '"MESSAGE"' in text:
        record = _journal_json(text)
        if record is not None:
            return record
    if m := _FACILITY.match(text):
        text = text[m.end() :]
    if m := _KMSG.match(text):
        uptime = int(m.group(2)) / 1e6
        text = text[m.end() :]
    elif m := _PRIORITY.match(text):
        text = text[m.end() :]

    if m := _TALOS.match(text):
        host, time = m.group(1), m.group(3)
        epoch = _epoch(time)
        ident = "kernel" if m.group(2) == "kern" else m.group(2)
        text = text[m.end() :]
    elif m := _ISO.match(text):
        time = m.group(1)
        epoch = _epoch(time)
        text = text[m.end() :]
        # dmesg --time-format iso writes a comma and no host; journalctl writes a host
        if "," not in time and (h := _HOST_IDENT.match(text)):
            host, ident = h.group(1), h.group(2)
            text = text[h.end() :]
        elif "," not in time and (k := _KERNEL_TAG.match(text)):
            ident = "kernel"  # a journal or syslog that writes no host name
            text = text[k.end() :]
    elif (m := _SYSLOG.match(text)) and (h := _HOST_IDENT.match(text, m.end())):
        time = m.group(1)
        host, ident = h.group(1), h.group(2)
        text = text[h.end() :]
    elif (m := _SYSLOG.match(text)) and (k := _KERNEL_TAG.match(text, m.end())):
        # a journal or syslog that writes no host name (other writers' tags are left in the
        # text for their own parsers)
        time = m.group(1)
        ident = "kernel"
        text = text[k.end() :]
    elif (m := _FULL.match(text)) and (h := _HOST_IDENT.match(text, m.end())):
        time = m.group(1)
        if m.group(2) == "UTC":  # other zone names are ambiguous (CST, IST)
            epoch = _epoch(time.split(" ", 1)[1].replace(" UTC", "Z"))
        host, ident = h.group(1), h.group(2)
        text = text[h.end() :]
    elif (m := _UNIX.match(text)) and (h := _HOST_IDENT.match(text, m.end())):
        time = m.group(1)
        epoch = float(time)
        host, ident = h.group(1), h.group(2)
        text = text[h.end() :]
    elif m := _KERNEL_TAG.match(text):
        ident = "kernel"
        text = text[m.end() :]

    if m := _PRIORITY.match(text):
        text = text[m.end() :]
    if m := _UPTIME.match(text):
        uptime = float(m.group(1))
        if uptime == 0.0:
            # "[    0.000000]" inside a running system is a broken clock, not boot time
            uptime = None
        time = time or m.group(1)
        text = text[m.end() :]
        # journalctl -o short-monotonic: "[ 1584.622990] host kernel: "
        h = _HOST_IDENT.match(text)
        if h and h.group(2) == "kernel" and host is None:
            host, ident = h.group(1), "kernel"
            text = text[h.end() :]
    elif m := _CTIME.match(text):
        time = m.group(1)
        text = text[m.end() :]
    elif m := _HUMAN.match(text):
        time = m.group(1).strip()
        text = text[m.end() :]
    elif uptime is None and "[" in text[:200] and (m := _EMBEDDED.search(text, 0, 200)):
        uptime = float(m.group(1))
        time = time or m.group(1)
        text = text[m.end() :]
    if text.startswith("[") and (m := _CALLER.match(text)):
        text = text[m.end() :]
    return Unwrapped(
        text=text.rstrip(), time=time, uptime_s=uptime, epoch_s=epoch, host=host, ident=ident
    )
