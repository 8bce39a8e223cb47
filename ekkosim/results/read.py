"""Reading results back: `ekkosim.load_run(dir)`, `ekkosim.load_sweep(dir)` (pandas, for
notebooks), and the checked reads `plot` and `reproduce` use.

A results folder may come from someone else, or be damaged: every file is read only if it is a
regular file within a size limit, a table only if it is Parquet with the columns and types it
should have, and anything else is a RunFolderError naming the file, never a traceback.
"""

from __future__ import annotations

import io
import os
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import ValidationError

from ekkosim.input_file import InputFileError, read_bytes
from ekkosim.results.manifest import RunFolderError
from ekkosim.results.run_folder import finished_summary
from ekkosim.run_files import FLOWS, LATENCY, QUALITY, RESOLVED, SWEEP_TABLE, TIMESERIES
from ekkosim.schema import Scenario
from ekkosim.units import shown

MAX_TABLE_BYTES = 2**31  # on disk
MAX_TABLE_MEMORY_BYTES = 2**33  # decoded, as the file's metadata says, checked before decoding
MAX_RESOLVED_BYTES = 16 * 2**20
# The columns a reader relies on, by table, and their kinds (pyarrow type predicates).
FLOAT, TEXT = pa.types.is_floating, (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t))
LATENCY_COLUMNS = {"dc": TEXT, "latency_s": FLOAT}


def read_table(path: Path, columns: dict | None = None) -> pa.Table:
    """The Parquet table at `path`; with `columns` (name to type predicate), only those, each
    checked. RunFolderError if the file is not such a table."""
    try:
        file = pq.ParquetFile(io.BytesIO(read_bytes(path, MAX_TABLE_BYTES, follow_links=False)))
        metadata, names = file.metadata, file.schema_arrow.names
    except InputFileError as err:
        raise RunFolderError(f"{path}: {err}") from None
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _unreadable(path, err) from None
    decoded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if decoded > MAX_TABLE_MEMORY_BYTES:
        raise RunFolderError(f"{path}: would take {decoded:,} bytes decoded, more than ekkosim reads of a table")
    missing = [name for name in columns or () if name not in names]
    if missing:
        raise RunFolderError(f"{path}: no column {', '.join(map(repr, missing))} (it has {shown(names)})")
    try:
        table = file.read(columns=list(columns) if columns else None)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _unreadable(path, err) from None
    for name, kind in (columns or {}).items():
        if not kind(table.schema.field(name).type):
            raise RunFolderError(f"{path}: column {name!r} holds {table.schema.field(name).type}, not what ekkosim writes")
    return table


def _unreadable(path: Path, err: Exception) -> RunFolderError:
    return RunFolderError(f"{path}: not a readable Parquet table ({shown(str(err))})")


class Run:
    """A finished run's folder: `summary` (summary.json), `scenario` (the resolved scenario) and
    a DataFrame per table, read when first used: `latency`, `flows`, `timeseries`, `quality`
    (None when the run has no such table; only strategy ekko measures latency, only a quality
    model writes quality)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.summary: dict = finished_summary(self.path)
        resolved = self.path / RESOLVED
        try:
            # as ekkosim wrote it: plain YAML (the C loader where installed), a scenario with every field
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            self.scenario = Scenario.model_validate(
                yaml.load(read_bytes(resolved, MAX_RESOLVED_BYTES, follow_links=False), Loader=loader))  # noqa: S506
        except InputFileError as err:
            raise RunFolderError(f"{resolved}: {err}") from None
        except (yaml.YAMLError, ValidationError, RecursionError) as err:
            problem = err.errors()[0]["msg"] if isinstance(err, ValidationError) else " ".join(str(err).split())
            raise RunFolderError(f"{resolved}: not a scenario ekkosim wrote ({shown(problem)})") from None

    def _table(self, name: str):
        table = self.path / name
        return read_table(table).to_pandas() if os.path.lexists(table) else None

    @cached_property
    def latency(self):
        return self._table(LATENCY)

    @cached_property
    def flows(self):
        return self._table(FLOWS)

    @cached_property
    def timeseries(self):
        return self._table(TIMESERIES)

    @cached_property
    def quality(self):
        return self._table(QUALITY)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}: {self.summary['scenario']}, seed {self.summary['seed']})"


def load_run(path: str | Path) -> Run:
    """A finished run folder; an unfinished or damaged one is refused (RunFolderError)."""
    return Run(path)


def load_sweep(path: str | Path):
    """A sweep's table (sweep.parquet) as a pandas DataFrame: a row per run, in sweep order."""
    table = Path(path) / SWEEP_TABLE
    if not table.exists():
        raise RunFolderError(f"{path}: not a finished sweep (no {SWEEP_TABLE}; `ekkosim sweep` writes it at the end)")
    return read_table(table).to_pandas()
