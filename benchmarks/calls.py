"""What a few calls cost on this machine, the per-call prices docs/performance.md quotes:
`python -m benchmarks.calls`.

The simulator's time goes to many small calls (a pull is some 30 NumPy or compiled calls on a
few keys), so their fixed prices decide what it costs: a gather by an int32 index array, which
NumPy casts first, against an int64 one; an import statement of a module already loaded; an add
to one element of a NumPy row against an array of doubles; a test of a mask by its `any` or
`all` method against `np.count_nonzero`; a call of a compiled loop that does nothing, by its
number of array arguments (Numba checks each one's type at every call), and eight scatters of
113 rows by NumPy against one compiled loop that does them all (fifteen arrays and a value to
pass). Each figure is the best of five rounds. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import timeit
from array import array

import numpy as np

from ekkosim.compiled import INT, compiled
from ekkosim.compiled import array as typed_array

_IN, _OUT = typed_array(np.int64), typed_array(np.int64, written=True)


@compiled(_IN)
def _one(a) -> None:
    return None


@compiled(*[_IN] * 8)
def _eight(a, b, c, d, e, f, g, h) -> None:
    return None


@compiled(*[_IN] * 16)
def _sixteen(a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q) -> None:
    return None


@compiled(*[_IN] * 7, INT, *[_OUT] * 8)
def _scatter(rows, a, b, c, d, e, f, value, o1, o2, o3, o4, o5, o6, o7, o8) -> None:
    """The eight scatters of `_numpy_scatter`, in one pass."""
    for i in range(rows.size):
        row = rows[i]
        o1[row], o2[row], o3[row], o4[row], o5[row], o6[row], o7[row] = a[i], b[i], c[i], d[i], e[i], f[i], value
        o8[a[i] % 10] = value


def _numpy_scatter(rows, a, b, c, d, e, f, value, *outs) -> None:
    for out, column in zip(outs, (a, b, c, d, e, f)):
        out[rows] = column
    outs[6][rows] = value
    outs[7][a % 10] = value


def _us(call, number: int) -> float:
    """Microseconds a call of `call` takes, the best of five rounds of `number` calls."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def _import_kernels() -> None:
    from ekkosim.ps._kernels import held_versions  # noqa: F401 - the statement is what is timed


def calls() -> dict:
    rng = np.random.default_rng(0)
    column = rng.random(10**6)
    gathers = {}
    for n in (30, 10**5):
        rows = rng.integers(0, column.size, n)
        narrow = rows.astype(np.int32)
        gathers[f"{n} rows"] = {"int64_us": _us(lambda: column[rows], 1000),
                                "int32_us": _us(lambda: column[narrow], 1000)}
    _import_kernels()  # loaded (and compiled or read from Numba's cache) before it is timed
    numpy_row, doubles = np.zeros(1000), array("d", bytes(8000))

    def add(row) -> None:
        row[7] += 1.5

    mask, ints = np.zeros(113, dtype=bool), np.arange(113, dtype=np.int64)
    eight, sixteen = [ints] * 8, [ints] * 16
    scattered = rng.choice(10**6, 113, replace=False)
    inputs = [np.arange(113, dtype=np.int64) for _ in range(6)]
    outputs = [np.zeros(10**6, dtype=np.int64) for _ in range(8)]
    return {
        "gather_by_index": gathers,
        "test_a_mask_of_113_us": {"any": _us(mask.any, 100_000), "all": _us(mask.all, 100_000),
                                  "count_nonzero": _us(lambda: np.count_nonzero(mask), 100_000)},
        "compiled_call_by_array_arguments_us": {
            "1": _us(lambda: _one(ints), 100_000),
            "8": _us(lambda: _eight(*eight), 100_000),
            "16": _us(lambda: _sixteen(*sixteen), 100_000)},
        "eight_scatters_of_113_rows_us": {
            "numpy": _us(lambda: _numpy_scatter(scattered, *inputs, 5, *outputs), 20_000),
            "one_compiled_pass": _us(lambda: _scatter(scattered, *inputs, 5, *outputs), 20_000)},
        "import_statement_us": _us(_import_kernels, 100_000),
        "add_to_one_element_us": {"numpy_row": _us(lambda: add(numpy_row), 100_000),
                                  "array_of_doubles": _us(lambda: add(doubles), 100_000)},
    }


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments:
        print("usage: python -m benchmarks.calls (it takes no arguments)", file=sys.stderr)
        return 2
    print(json.dumps(calls()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
