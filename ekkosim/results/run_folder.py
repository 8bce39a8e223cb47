"""A run folder that never looks complete unless it is.

While a run writes, the folder holds a file `INCOMPLETE`; every file is written under a
temporary name and renamed into place; `summary.json` comes last, and only then does
`INCOMPLETE` go. A folder with `summary.json` and no `INCOMPLETE` is a finished run. The
folder's manifest (`ekkosim.results.manifest`) lists every file the run wrote, so a rerun into
it clears exactly those, and a folder holding anything else is refused.
The digest is a sha256 over every deterministic byte of the results (the resolved scenario,
each table's contents, the summary without wall-clock fields), independent of file formats.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ekkosim.input_file import InputFileError, read_bytes
from ekkosim.run_files import INCOMPLETE, SUMMARY
from ekkosim.results.manifest import OwnedFolder, RunFolderError
from ekkosim.units import shown

WALL_CLOCK_FIELDS = ("wall_time_s", "digest")
MAX_SUMMARY_BYTES = 64 * 2**20
# What every summary holds, with its type: a summary.json without them is not one ekkosim wrote.
SUMMARY_FIELDS = {"scenario": str, "seed": int, "strategy": str, "complete": bool, "sim_time_s": (int, float),
                  "digest": str}


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


class RunFolder:
    """Writes one run's results into `path`, atomically file by file, summary last.

    The folder must be new, empty, or an earlier run's folder (its manifest lists everything in
    it); the earlier run's files are removed first, so none of them can be taken for this run's.
    """

    def __init__(self, path: Path):
        self.folder = OwnedFolder(path)
        self.path = self.folder.path
        # first: from here on the folder says it is not a finished run, whatever else it holds
        self.folder.write(INCOMPLETE, lambda f: f.write(b"this run has not finished; its files are partial\n"))
        self.folder.clear(keep=(INCOMPLETE,))
        self._digest = hashlib.sha256()

    def write_file(self, name: str, write: Callable[[BinaryIO], None]) -> None:
        """Write a file of the run that no digest covers (a figure), through `write(file)`."""
        self.folder.write(name, write)

    def write_text(self, name: str, text: str) -> None:
        self._digest.update(name.encode() + b"\0" + text.encode("utf-8"))
        self.folder.write(name, lambda f: f.write(text.encode("utf-8")))

    def write_table(self, name: str, columns: dict[str, np.ndarray | list]) -> None:
        import pyarrow as pa  # here, so that commands which write no table start fast
        import pyarrow.parquet as pq

        self._digest.update(table_digest(name, columns))
        # object columns hold names: typed as strings, so that an empty one (a run that delivered
        # no sampled update) is read back as the same column, not as nulls
        arrays = {column: np.asarray(values) for column, values in columns.items()}
        table = pa.table({column: pa.array(array, type=pa.string() if array.dtype == object else None)
                          for column, array in arrays.items()})
        self.folder.write(name, lambda f: pq.write_table(table, f))

    def finish(self, summary: dict) -> dict:
        """Write `summary.json` with the digest filled in, then mark the run complete."""
        deterministic = {k: v for k, v in summary.items() if k not in WALL_CLOCK_FIELDS}
        self._digest.update(json.dumps(deterministic, sort_keys=True, allow_nan=False).encode())
        summary = {**summary, "digest": self._digest.hexdigest()}
        text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
        self.folder.write(SUMMARY, lambda f: f.write(text.encode("utf-8")))
        self.folder.remove(INCOMPLETE)
        return summary


def finished_summary(path: Path) -> dict:
    """The summary of the finished run in folder `path`; RunFolderError (one line, saying why)
    if it is not one: no summary, `INCOMPLETE` beside it, or a summary.json that ekkosim did
    not write as it stands (not a file, not JSON, fields missing or of the wrong type, a
    simulated time that is not a finite time >= 0)."""
    path = Path(path)
    summary_path = path / SUMMARY
    if os.path.lexists(path / INCOMPLETE) or not os.path.lexists(summary_path):
        raise RunFolderError(f"{path}: not a finished run (no {SUMMARY}; a run that stopped leaves {INCOMPLETE})")
    try:
        summary = json.loads(read_bytes(summary_path, MAX_SUMMARY_BYTES, follow_links=False))
    except InputFileError as err:
        raise RunFolderError(f"{summary_path}: {err}") from None
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunFolderError(f"{summary_path}: not JSON ({shown(str(err))})") from None
    if not isinstance(summary, dict):
        raise RunFolderError(f"{summary_path}: not a run's summary (a JSON {type(summary).__name__}, not an object)")
    for field, kind in SUMMARY_FIELDS.items():
        value = summary.get(field)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise RunFolderError(f"{summary_path}: not a run's summary ({field}: "
                                 f"{'missing' if field not in summary else shown(value)})")
    if not 0 <= summary["sim_time_s"] <= sys.float_info.max:  # NaN fails too: ekkosim writes no NaN or Infinity
        raise RunFolderError(f"{summary_path}: not a run's summary (sim_time_s: {shown(summary['sim_time_s'])})")
    return summary
