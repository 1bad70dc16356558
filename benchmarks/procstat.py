"""Reading a process's CPU time and resident memory from ``/proc`` (Linux only)."""

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time in seconds used so far by every thread of ``pid``.

    The kernel counts in clock ticks (usually 10 ms), so measure over seconds, not milliseconds.
    Raises ``FileNotFoundError`` if the process is gone.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name in field 2 may hold spaces and parentheses; the fields after it do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Return the resident set size of ``pid`` in bytes.

    Raises ``FileNotFoundError`` if the process is gone.
    """
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident_pages * _PAGE_SIZE


def children(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid`` (a scan of ``/proc``, so no kernel option needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    """Return the command line of ``pid`` with arguments separated by spaces, or ``""`` if gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
