"""Reading a file someone handed us: a scenario, a sweep file, a trace, a GraphML file, or a file
of a run folder.

Any of them may be hostile or a mistake: a FIFO (reading it would wait for a writer forever),
a device such as /dev/zero (endless), a directory, or a file far larger than any real input.
Only a regular file is read (a symbolic link to one is fine), and never more than a limit of
bytes, checked before anything is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class InputFileError(ValueError):
    """A file that cannot be read as input; the message is one line, without the file's name."""


def size_text(n_bytes: float) -> str:
    """A size for messages, in binary units: 512 B, 16 MiB, 3.2 GiB, 41 TiB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{n_bytes:,.0f} B"


def regular_file_size(path: Path, limit_bytes: int) -> int:
    """The size of the regular file at `path`; InputFileError if it is something else or larger
    than `limit_bytes`. Nothing is opened: opening some devices has effects of its own."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror or err}") from None
    _check(info, limit_bytes)
    return info.st_size


def read_bytes(path: Path, limit_bytes: int, follow_links: bool = True) -> bytes:
    """The bytes of the regular file at `path`, at most `limit_bytes` of them; InputFileError
    otherwise (not a regular file, larger than the limit, unreadable, missing).
    `follow_links=False`: a symbolic link is refused, not followed (ekkosim writes none)."""
    if not follow_links and os.path.islink(path):
        raise InputFileError("a symbolic link, which ekkosim never writes")
    regular_file_size(path, limit_bytes)
    flags = os.O_RDONLY | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        # O_NONBLOCK: had the file been swapped for a FIFO since the check, opening it would not wait
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror or err}") from None
    try:
        _check(os.fstat(fd), limit_bytes)  # the file opened, not the one checked by name
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit_bytes + 1)
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)
    if len(data) > limit_bytes:  # it grew while we read
        raise InputFileError(f"larger than {size_text(limit_bytes)}, the most ekkosim reads of such a file")
    return data


def _check(info: os.stat_result, limit_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise InputFileError(f"{kind}, not a regular file")
    if info.st_size > limit_bytes:
        raise InputFileError(f"{size_text(info.st_size)}, larger than {size_text(limit_bytes)}, "
                             "the most ekkosim reads of such a file")
