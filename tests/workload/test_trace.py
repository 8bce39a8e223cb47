"""Trace replay: reading CSV and Parquet, batching by interval, and a precise error for each bad input."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ekkosim.schema import Model
from ekkosim.workload import TraceError, TraceWorkload, read_trace

MODELS = [Model(name="a", keys=100), Model(name="b", keys=10)]
HEADER = "time_s,model,key,magnitude\n"

# Unsorted, two models, a repeated key, ties in time (kept in file order), an unused column.
GOOD_ROWS = [
    (2.0, "a", 5, 1.0),
    (1.0, "a", 5, 2.0),
    (1.0, "b", 3, 0.5),
    (0.5, "a", 7, 1.0),
    (1.0, "a", 7, 4.0),
    (3.0, "a", 5, 0.0),
]


def write(tmp_path, text: str, name: str = "trace.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def good_csv(tmp_path):
    lines = ["time_s,model,key,magnitude,note"] + [f"{t},{m},{k},{g},x" for t, m, k, g in GOOD_ROWS]
    return write(tmp_path, "\n".join(lines) + "\n")


def good_parquet(tmp_path):
    path = tmp_path / "trace.parquet"
    columns = list(zip(*GOOD_ROWS))
    pq.write_table(
        pa.table({"key": list(columns[2]), "model": list(columns[1]), "time_s": list(columns[0]),
                  "magnitude": list(columns[3])}),
        path,
    )
    return path


@pytest.mark.parametrize("writer", [good_csv, good_parquet])
def test_good_trace_is_sorted_stably_per_model_with_first_occurrences_new(tmp_path, writer):
    updates = read_trace(writer(tmp_path), MODELS)
    assert list(updates) == ["a", "b"]
    a = updates["a"]
    assert a.model == "a" and len(a) == 5
    assert a.times.tolist() == [0.5, 1.0, 1.0, 2.0, 3.0]
    assert a.keys.tolist() == [7, 5, 7, 5, 5]
    assert a.magnitudes.tolist() == [1.0, 2.0, 4.0, 1.0, 0.0]
    assert a.is_new.tolist() == [True, True, False, False, False]
    assert a.keys.dtype == np.int64 and a.times.dtype == np.float64
    b = updates["b"]
    assert (b.times.tolist(), b.keys.tolist(), b.is_new.tolist()) == ([1.0], [3], [True])


def test_csv_and_parquet_give_the_same_updates(tmp_path):
    from_csv, from_parquet = read_trace(good_csv(tmp_path), MODELS), read_trace(good_parquet(tmp_path), MODELS)
    for name in ("a", "b"):
        for field in ("times", "keys", "magnitudes", "is_new"):
            assert np.array_equal(getattr(from_csv[name], field), getattr(from_parquet[name], field))


def test_batches_by_interval(tmp_path):
    workload = TraceWorkload(read_trace(good_csv(tmp_path), MODELS)["a"])
    first = workload.batch(0.0, 1.0)
    assert (first.keys.tolist(), first.magnitudes.tolist(), first.is_new.tolist()) == ([7], [1.0], [True])
    second = workload.batch(1.0, 2.0)  # a row at exactly 2.0 belongs to the next batch
    assert (second.keys.tolist(), second.magnitudes.tolist(), second.is_new.tolist()) == (
        [5, 7], [2.0, 4.0], [True, False]
    )
    third = workload.batch(2.0, 10.0)
    assert (third.keys.tolist(), third.magnitudes.tolist(), third.is_new.tolist()) == ([5], [1.0], [False])
    assert len(workload.batch(10.0, 20.0)) == 0


def test_a_key_new_in_a_batch_stays_new_after_merging(tmp_path):
    path = write(tmp_path, HEADER + "0.1,a,4,1\n0.2,a,4,2\n")
    batch = TraceWorkload(read_trace(path, MODELS)["a"]).batch(0.0, 1.0)
    assert (batch.keys.tolist(), batch.magnitudes.tolist(), batch.is_new.tolist()) == ([4], [3.0], [True])


def test_header_only_and_unused_models_give_no_updates(tmp_path):
    updates = read_trace(write(tmp_path, "time_s,model,key,magnitude"), MODELS)
    assert [len(u) for u in updates.values()] == [0, 0]
    assert len(TraceWorkload(updates["b"]).batch(0.0, 100.0)) == 0


def test_lenient_text_forms(tmp_path):
    text = "\ufeffkey , magnitude,model,time_s\r\n 3 , 1e0 ,b, .5\r\n\r\n4.0,2.,b,+1E1\r\n"
    b = read_trace(write(tmp_path, text), MODELS)["b"]
    assert (b.times.tolist(), b.keys.tolist(), b.magnitudes.tolist()) == ([0.5, 10.0], [3, 4], [1.0, 2.0])


@pytest.mark.parametrize(
    "body, message",
    [
        ("1,a,5,1\n2,a,12.5,1\n", ":3: key: 12.5 is not an integer"),
        ("1,a,5,1\n2,a,inf,1\n", ":3: key: inf is not an integer"),
        ("1,a,x,1\n", ":2: key: 'x' is not a number"),
        ("1,a,,1\n", ":2: key: missing value"),
        ("1,b,10,1\n", ":2: key: 10 is out of range for model 'b' (0 <= key < 10)"),
        ("1,a,-1,1\n", ":2: key: -1 is out of range for model 'a' (0 <= key < 100)"),
        ("1,c,5,1\n", ":2: model: 'c' is not a model of the scenario (models: a, b)"),
        ("1, ,5,1\n", ":2: model: missing value"),
        ("-0.5,a,5,1\n", ":2: time_s: -0.5 is negative"),
        ("nan,a,5,1\n", ":2: time_s: nan is not finite"),
        ("1e999,a,5,1\n", ":2: time_s: 1e999 is not finite"),
        ("soon,a,5,1\n", ":2: time_s: 'soon' is not a number"),
        ("1,a,5,-2\n", ":2: magnitude: -2 is negative"),
        ("1,a,5,inf\n", ":2: magnitude: inf is not finite"),
        ("1,a,5,0x10\n", ":2: magnitude: '0x10' is not a number"),
        ("1,a,5\n", ":2: 3 fields, but the header has 4"),
        ("1,a,5,1\n\n1,a,5,1,9\n", ":4: 5 fields, but the header has 4"),
        # The earliest row wins, whatever its column; a quoted newline and blank lines count.
        ('1,a,5,"1\n"\n\n2,a,5,x\n-1,a,5,1\n', ":5: magnitude: 'x' is not a number"),
        ("1,a,5,x\n1,z,5,1\n", ":2: magnitude: 'x' is not a number"),
        ("1,z,5,x\n", ":2: model: 'z' is not a model of the scenario (models: a, b)"),
    ],
)
def test_bad_csv_values_name_line_and_column(tmp_path, body, message):
    path = write(tmp_path, HEADER + body)
    with pytest.raises(TraceError) as error:
        read_trace(path, MODELS)
    assert str(error.value) == f"{path}{message}"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", ": empty file (a header row is required)"),
        (b"\n \n", ": empty file (a header row is required)"),
        (b"\nmodel,key\n", ":1: the header row is empty"),
        (b"time_s,model,key\n1,a,2\n", ": missing column 'magnitude'"),
        (b"time,model,value\n", ": missing columns 'time_s', 'key', 'magnitude'"),
        (b"time_s,model,key,magnitude,key\n", ": duplicate column 'key'"),
        (b"time_s,model,key,magnitude\n1,a,1,1\n1,b,\xff1,1\n", ":3: key: not UTF-8 text (byte 0xff)"),
        (b"time_s,model,k\xe9y,magnitude\n", ":1: header: not UTF-8 text (byte 0xe9)"),
    ],
)
def test_bad_csv_files(tmp_path, content, message):
    path = tmp_path / "trace.csv"
    path.write_bytes(content)
    with pytest.raises(TraceError) as error:
        read_trace(path, MODELS)
    assert str(error.value) == f"{path}{message}"


def test_unreadable_and_unsupported_files(tmp_path):
    with pytest.raises(TraceError, match=r"trace\.txt: unsupported trace format '\.txt'; use \.csv or \.parquet$"):
        read_trace(write(tmp_path, HEADER, "trace.txt"), MODELS)
    missing = tmp_path / "absent.csv"
    with pytest.raises(TraceError) as error:
        read_trace(missing, MODELS)
    assert str(error.value) == f"{missing}: cannot read: No such file or directory"


def parquet(tmp_path, **columns):
    path = tmp_path / "trace.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_bad_parquet_files(tmp_path):
    path = tmp_path / "trace.parquet"
    path.write_bytes(b"")
    with pytest.raises(TraceError, match=r"trace\.parquet: empty file \(a header row is required\)$"):
        read_trace(path, MODELS)
    path.write_bytes(b"time_s,model,key,magnitude\n")
    with pytest.raises(TraceError, match=r"trace\.parquet: not a readable Parquet file \(.*magic bytes"):
        read_trace(path, MODELS)
    path = parquet(tmp_path, time_s=[1.0], model=["a"], key=[1])
    with pytest.raises(TraceError, match=r"trace\.parquet: missing column 'magnitude'$"):
        read_trace(path, MODELS)


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"key": pa.array([1, None], pa.int64())}, ": row 1: key: missing value"),
        ({"key": [1.0, 2.5]}, ": row 1: key: 2.5 is not an integer"),
        ({"key": ["1", "two"]}, ": row 1: key: 'two' is not a number"),
        ({"key": [True, False]}, ": column 'key' holds bool, not numbers"),
        ({"model": pa.array(["a", "c"]).dictionary_encode()},
         ": row 1: model: 'c' is not a model of the scenario (models: a, b)"),
        ({"model": [1, 2]}, ": column 'model' holds int64, not names"),
        ({"time_s": [0.0, float("nan")]}, ": row 1: time_s: nan is not finite"),
        ({"magnitude": [1.0, -1.0]}, ": row 1: magnitude: -1.0 is negative"),
    ],
)
def test_bad_parquet_values_name_row_and_column(tmp_path, columns, message):
    path = parquet(tmp_path, **{"time_s": [0.0, 1.0], "model": ["a", "a"], "key": [1, 2], "magnitude": [1.0, 1.0],
                                **columns})
    with pytest.raises(TraceError) as error:
        read_trace(path, MODELS)
    assert str(error.value) == f"{path}{message}"
