"""Transparent huge pages for a run's arrays: a program of ours re-executes itself once with glibc's
malloc told to use them.

A large run holds its parameter servers' state in thousands of arrays of a few hundred KB each
(one set per server), which its pulls read at random. NumPy asks the kernel for huge pages only
for arrays of 4 MiB or more, so these get none where the kernel gives huge pages only to memory
that asks for them (its ``madvise`` setting, the usual default). glibc's malloc asks for them on
all the memory it takes from the kernel when the tunable ``glibc.malloc.hugetlb=1`` is set (glibc
2.35 and later), and it reads its tunables once, as a process starts: hence the re-execution.
With them, the compiled loops of production's later seconds take a fifth less time and its
minute a few percent less (docs/performance.md, "Huge pages"). Results do not change (where
memory lies decides no number), only the time they take.

Nothing is done off Linux or glibc, where the kernel's setting is not ``madvise`` (``always``
gives huge pages without asking, ``never`` none), where ``GLIBC_TUNABLES`` already names the
tunable (``GLIBC_TUNABLES=glibc.malloc.hugetlb=0`` turns this off), or in a process that this
module started (``EKKOSIM_REEXECUTED``: should the tunable not reach it, as glibc filters tunables for
privileged programs, the process does not start itself again and again).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["exec_with_huge_pages", "huge_pages_environment"]

TUNABLE = "glibc.malloc.hugetlb"
MARK = "EKKOSIM_REEXECUTED"  # set in the environment of the process started again
_THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_pages_environment(environ: Mapping[str, str], libc: str | None, thp_setting: str | None
                           ) -> dict[str, str] | None:
    """The environment to re-execute with, or None where there is nothing to gain or the process
    was started again already: `libc` is ``os.confstr("CS_GNU_LIBC_VERSION")`` (None off glibc),
    `thp_setting` the kernel's transparent huge pages setting (as its sysfs file reads, the chosen
    one in brackets; None where there is none)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    if MARK in environ or TUNABLE + "=" in tunables or not _glibc_with_tunable(libc):
        return None
    if thp_setting is None or "[madvise]" not in thp_setting:
        return None
    return {**environ, "GLIBC_TUNABLES": f"{tunables}:{TUNABLE}=1" if tunables else f"{TUNABLE}=1", MARK: "1"}


def exec_with_huge_pages() -> None:
    """Re-execute this process (the command line it was started with, `sys.orig_argv`) with
    the huge pages tunable set, if it gains anything (`huge_pages_environment`); returns only
    where it does not, or where the execution fails."""
    if sys.platform != "linux":
        return
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        libc = None
    try:
        thp_setting = _THP_SETTING.read_text()
    except OSError:
        thp_setting = None
    environment = huge_pages_environment(os.environ, libc, thp_setting)
    command = list(sys.orig_argv)
    if environment is None or not sys.executable or not command:  # (an embedded interpreter has neither)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, command, environment)
    except OSError:  # run on without them
        return


def _glibc_with_tunable(libc: str | None) -> bool:
    """Whether `libc` ("glibc 2.36") is a glibc that knows the tunable (2.35 on)."""
    name, _, version = (libc or "").partition(" ")
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return name == "glibc" and (major, minor) >= (2, 35)
