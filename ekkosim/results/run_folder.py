"""A run folder that never looks complete unless it is.

While a run writes, the folder holds a file `INCOMPLETE`; every file is written under a
temporary name and renamed into place; `summary.json` comes last, and only then does
`INCOMPLETE` go. A folder with `summary.json` is a finished run; one with `INCOMPLETE` is not.
The digest is a sha256 over every deterministic byte of the results (the resolved scenario,
each table's contents, the summary without wall-clock fields), independent of file formats.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

INCOMPLETE = "INCOMPLETE"
SUMMARY = "summary.json"
WALL_CLOCK_FIELDS = ("wall_time_s", "digest")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


def table_digest(name: str, columns: dict[str, np.ndarray | list]) -> bytes:
    """A content hash of a table: column names, types and values, in order."""
    h = hashlib.sha256(name.encode())
    for column, values in columns.items():
        array = np.asarray(values)
        h.update(column.encode() + b"\0" + array.dtype.str.encode() + b"\0")
        if array.dtype.kind in "OUS":
            h.update("\0".join(map(str, array.tolist())).encode("utf-8"))
        else:
            h.update(np.ascontiguousarray(array).tobytes())
    return h.digest()


class RunFolderError(ValueError):
    """The results folder cannot be used: not creatable, or holding files of something else."""


class RunFolder:
    """Writes one run's results into `path`, atomically file by file, summary last.

    The folder must be new, empty, or an earlier run's folder (it has `summary.json` or
    `INCOMPLETE`); an earlier run's files are removed first, so none of them can be taken for
    this run's.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            earlier = sorted(self.path.iterdir())
        except OSError as err:
            raise RunFolderError(f"{self.path}: cannot use as a results folder: {err.strerror or err}") from None
        if earlier and not any((self.path / marker).exists() for marker in (SUMMARY, INCOMPLETE)):
            raise RunFolderError(f"{self.path}: holds files but is not an ekkosim run folder; choose another --out")
        (self.path / INCOMPLETE).write_text("this run has not finished; its files are partial\n")
        for entry in earlier:
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.name != INCOMPLETE:
                entry.unlink()
        self._digest = hashlib.sha256()

    def write_text(self, name: str, text: str) -> None:
        self._digest.update(name.encode() + b"\0" + text.encode("utf-8"))
        atomic_write(self.path / name, lambda p: p.write_text(text, encoding="utf-8"))

    def write_table(self, name: str, columns: dict[str, np.ndarray | list]) -> None:
        import pyarrow as pa  # here, so that commands which write no table start fast
        import pyarrow.parquet as pq

        self._digest.update(table_digest(name, columns))
        table = pa.table({column: pa.array(np.asarray(values)) for column, values in columns.items()})
        atomic_write(self.path / name, lambda p: pq.write_table(table, p))

    def finish(self, summary: dict) -> dict:
        """Write `summary.json` with the digest filled in, then mark the run complete."""
        deterministic = {k: v for k, v in summary.items() if k not in WALL_CLOCK_FIELDS}
        self._digest.update(json.dumps(deterministic, sort_keys=True, allow_nan=False).encode())
        summary = {**summary, "digest": self._digest.hexdigest()}
        text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
        atomic_write(self.path / SUMMARY, lambda p: p.write_text(text, encoding="utf-8"))
        (self.path / INCOMPLETE).unlink()
        return summary
