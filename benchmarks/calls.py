"""What a few calls cost on this machine, the per-call prices docs/performance.md quotes:
`python -m benchmarks.calls`.

The simulator's time goes to many small calls (a pull is some 30 NumPy or compiled calls on a
few keys), so their fixed prices decide what it costs: a gather by an int32 index array, which
NumPy casts first, against an int64 one; an import statement of a module already loaded; an add
to one element of a NumPy row against an array of doubles. Each figure is the best of five
rounds. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import timeit
from array import array

import numpy as np


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

    return {
        "gather_by_index": gathers,
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
