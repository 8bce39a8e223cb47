"""A trace-driven workload: replay a user's own log of updates instead of the synthetic workload.

A trace is a CSV file (UTF-8, header row first) or a Parquet file with the columns `time_s`,
`model`, `key` and `magnitude`; other columns are ignored. Every row is one update. A trace has no
notion of keys that existed before it: an update is new when its key appears for the first time.
Every problem in a trace raises `TraceError`, naming the file and, where it has one, the row
(CSV: `file:LINE`, the header being line 1; Parquet: `file: row N`, counted from 0) and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ekkosim.input_file import InputFileError, read_bytes
from ekkosim.schema import Model
from ekkosim.units import cut, shown
from ekkosim.workload.batch import UpdateBatch

COLUMNS = ("time_s", "model", "key", "magnitude")
MAX_TRACE_BYTES = 2**30  # tens of millions of rows; the scenario's memory estimate counts what it takes parsed

# The decimal numbers a text field may hold (also inf and nan, rejected later as not finite);
# pyarrow's cast to float64 accepts every one of them.
_NUMBER = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$"


class TraceError(ValueError):
    """A trace file that cannot be replayed; the message names the file, the row and the column."""


@dataclass(frozen=True, eq=False)
class TraceUpdates:
    """One model's updates from a trace, one entry per row, sorted stably by time.

    `is_new[i]` says that row i is the first (in this order) to update `keys[i]`.
    """

    model: str
    times: np.ndarray
    keys: np.ndarray
    magnitudes: np.ndarray
    is_new: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


class TraceWorkload:
    """Replays one model's trace updates, batch by batch."""

    def __init__(self, updates: TraceUpdates):
        self.updates = updates

    def batch(self, t0: float, t1: float) -> UpdateBatch:
        """The rows with t0 <= time_s < t1, merged per key (new if the key's first row is among them)."""
        if not t0 <= t1:
            raise ValueError(f"interval [{t0}, {t1}) is empty or reversed")
        u = self.updates
        start, end = np.searchsorted(u.times, [t0, t1], side="left")
        return UpdateBatch.merge(u.keys[start:end], u.magnitudes[start:end], u.is_new[start:end])


def read_trace(path: Path, models: list[Model]) -> dict[str, TraceUpdates]:
    """Read and check a trace; return the updates of every model in `models` (empty if it has none)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table, where = _read_csv(path)
    elif suffix == ".parquet":
        table, where = _read_parquet(path)
    else:
        raise TraceError(f"{path}: unsupported trace format {suffix or '(no suffix)'!r}; use .csv or .parquet")
    times, model_index, keys, magnitudes = _check_rows(path, table, models, where)
    order = np.argsort(times, kind="stable")
    updates = {}
    for index, model in enumerate(models):
        rows = order[model_index[order] == index]
        model_keys = keys[rows]
        is_new = np.zeros(len(rows), dtype=np.bool_)
        is_new[np.unique(model_keys, return_index=True)[1]] = True  # first occurrences
        updates[model.name] = TraceUpdates(model.name, times[rows], model_keys, magnitudes[rows], is_new)
    return updates


# --- reading ---------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        data = read_bytes(path, MAX_TRACE_BYTES)
    except InputFileError as error:
        raise TraceError(f"{path}: {error}") from None
    if not data.strip():
        raise TraceError(f"{path}: empty file (a header row is required)")
    return data


def _read_csv(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TraceError(_not_utf8(path, data, error.start)) from None
    records = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(records)]
    if header and header[0].startswith("\ufeff"):  # a byte-order mark is not part of the name
        header[0] = header[0][1:].strip()
    if not any(header):
        raise TraceError(f"{path}:1: the header row is empty")
    _check_header(path, header)

    # Only the four columns are converted, all as text; other columns get placeholder names so
    # that their own names (empty, repeated) cannot upset the reader.
    names = [name if name in COLUMNS else f"_{i}" for i, name in enumerate(header)]
    if not data.endswith((b"\n", b"\r")):
        data += b"\n"  # pyarrow cannot skip a header line that has no end
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(COLUMNS), column_types={name: pa.string() for name in COLUMNS}
            ),
        )
    except pa.ArrowException as error:
        raise TraceError(_csv_structure_problem(path, text, len(header), error)) from None
    return table, lambda row: f"{path}:{_csv_line(text, row)}"


def _check_header(path: Path, names: list[str]) -> None:
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise TraceError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    for name in COLUMNS:
        if names.count(name) > 1:
            raise TraceError(f"{path}: duplicate column {name!r}")


def _data_records(text: str):
    """(first line, fields) of each CSV record after the header, blank lines skipped as pyarrow does."""
    records = csv.reader(io.StringIO(text, newline=""))
    next(records)
    line_before = records.line_num
    for fields in records:
        if fields:
            yield line_before + 1, fields
        line_before = records.line_num


def _csv_line(text: str, row: int) -> int:
    """The line where data row `row` (0-based) starts; only called to report a problem."""
    for index, (line, _) in enumerate(_data_records(text)):
        if index == row:
            return line
    raise AssertionError(f"row {row} not found again")


def _csv_structure_problem(path: Path, text: str, header_fields: int, error: Exception) -> str:
    try:
        for line, fields in _data_records(text):
            if len(fields) != header_fields:
                return f"{path}:{line}: {len(fields)} fields, but the header has {header_fields}"
    except csv.Error as csv_error:
        return f"{path}: not a valid CSV file ({csv_error})"
    # pyarrow saw something Python's csv module accepts, such as a quote left open at the end.
    return f"{path}: not a valid CSV file ({str(error).splitlines()[0]})"


def _not_utf8(path: Path, data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    where = f"byte 0x{data[offset]:02x}"
    if line == 1:
        return f"{path}:1: header: not UTF-8 text ({where})"
    try:
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()]))
        line_start = data.rfind(b"\n", 0, offset) + 1
        before = next(csv.reader([data[line_start:offset].decode("utf-8", "replace")]), [])
    except csv.Error:  # a carriage return or a quote the line alone cannot place: name the line only
        return f"{path}:{line}: not UTF-8 text ({where})"
    field = max(len(before) - 1, 0)
    column = header[field].strip() if field < len(header) else f"field {field + 1}"
    return f"{path}:{line}: {column}: not UTF-8 text ({where})"


def _read_parquet(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    data = _read_bytes(path)
    try:
        file = pq.ParquetFile(io.BytesIO(data))
        _check_header(path, file.schema_arrow.names)
        table = file.read(columns=list(COLUMNS))
    except (pa.ArrowException, OSError) as error:
        raise TraceError(f"{path}: not a readable Parquet file ({str(error).splitlines()[0]})") from None
    return table, lambda row: f"{path}: row {row}"


# --- checking --------------------------------------------------------------------------------


class _FirstProblem:
    """Collects checks over all rows and keeps the earliest failing row (ties: the first check)."""

    def __init__(self) -> None:
        self.row: int | None = None
        self.message = ""

    def check(self, bad: np.ndarray, column: str, describe: Callable[[int], str]) -> None:
        row = int(np.argmax(bad)) if len(bad) else 0
        if len(bad) and bad[row] and (self.row is None or row < self.row):
            self.row, self.message = row, f"{column}: {describe(row)}"


class _Values:
    """A column as float64 (nan where unusable), with which rows are missing or not numbers."""

    def __init__(self, path: Path, name: str, column: pa.Array):
        self.column = column
        if _is_text(column.type):
            text = pc.utf8_trim_whitespace(column.cast(pa.string()))
            self.missing = _filled(pc.or_kleene(pc.is_null(text), pc.equal(text, "")), True)
            number = _filled(pc.match_substring_regex(text, _NUMBER, ignore_case=True), False)
            self.not_number = ~number & ~self.missing
            self.values = _filled(pc.if_else(number, text, "nan").cast(pa.float64()), np.nan)
        elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            self.missing = _filled(pc.is_null(column), True)
            self.not_number = np.zeros(len(column), dtype=np.bool_)
            self.values = _filled(column.cast(pa.float64(), safe=False), np.nan)
        else:
            raise TraceError(f"{path}: column {name!r} holds {column.type}, not numbers")

    def literal(self, row: int) -> str:
        """The value of `row` as written (trimmed, and cut to 60 characters), for messages."""
        value = self.column[row].as_py()
        return cut(value.strip() if isinstance(value, str) else str(value))


def _is_text(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _filled(array: pa.Array, fill) -> np.ndarray:
    return pc.fill_null(array, fill).to_numpy(zero_copy_only=False)


def _check_rows(
    path: Path, table: pa.Table, models: list[Model], where: Callable[[int], str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check every value; return times, model index (into `models`), keys and magnitudes per row."""
    column = {name: table.column(name).combine_chunks() for name in COLUMNS}
    problem = _FirstProblem()

    time = _Values(path, "time_s", column["time_s"])
    _check_number(problem, "time_s", time)

    if not _is_text(column["model"].type):
        raise TraceError(f"{path}: column 'model' holds {column['model'].type}, not names")
    names = pc.utf8_trim_whitespace(column["model"].cast(pa.string()))
    model_missing = _filled(pc.or_kleene(pc.is_null(names), pc.equal(names, "")), True)
    model_index = _filled(pc.index_in(names, value_set=pa.array([m.name for m in models], pa.string())), -1)
    model_index = model_index.astype(np.int64)
    known = ", ".join(m.name for m in models)
    problem.check(model_missing, "model", lambda row: "missing value")
    problem.check(
        (model_index < 0) & ~model_missing, "model",
        lambda row: f"{shown(names[row].as_py())} is not a model of the scenario (models: {known})",
    )

    key = _Values(path, "key", column["key"])
    problem.check(key.missing, "key", lambda row: "missing value")
    problem.check(key.not_number, "key", lambda row: f"{key.literal(row)!r} is not a number")
    integral = np.isfinite(key.values) & (np.floor(key.values) == key.values)
    usable = ~key.missing & ~key.not_number
    problem.check(usable & ~integral, "key", lambda row: f"{key.literal(row)} is not an integer")
    limit = np.array([m.keys for m in models], dtype=np.float64)[np.maximum(model_index, 0)]
    out_of_range = integral & (model_index >= 0) & ((key.values < 0) | (key.values >= limit))

    def describe_range(row: int) -> str:
        model = models[model_index[row]]
        return f"{key.literal(row)} is out of range for model {model.name!r} (0 <= key < {model.keys})"

    problem.check(out_of_range, "key", describe_range)

    magnitude = _Values(path, "magnitude", column["magnitude"])
    _check_number(problem, "magnitude", magnitude)

    if problem.row is not None:
        raise TraceError(f"{where(problem.row)}: {problem.message}")
    # + 0.0 turns a magnitude of -0 into 0.
    return time.values, model_index, key.values.astype(np.int64), magnitude.values + 0.0


def _check_number(problem: _FirstProblem, name: str, values: _Values) -> None:
    """A finite number >= 0."""
    problem.check(values.missing, name, lambda row: "missing value")
    problem.check(values.not_number, name, lambda row: f"{values.literal(row)!r} is not a number")
    usable = ~values.missing & ~values.not_number
    problem.check(usable & ~np.isfinite(values.values), name, lambda row: f"{values.literal(row)} is not finite")
    problem.check(values.values < 0, name, lambda row: f"{values.literal(row)} is negative")
