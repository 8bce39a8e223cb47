"""Rerun every notebook and store it with its outputs: `python -m notebooks.refresh [NAME...]`
from the repository's top folder.

Each notebook runs top to bottom as a reader would run it, at its own parameters, except that
its runs go to a fresh folder (`--runs`, default a temporary one): the notebooks load runs they
find, and a run left from older code would draw an older figure. What is stored does not churn
when nothing changed: figures at a fixed resolution without the matplotlib version in them, no
execution timestamps, no Python version, execution counts 1, 2, 3, ... The docs site shows the
stored notebooks (mkdocs-jupyter; mkdocs.yml).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
REPO = NOTEBOOKS.parent
DPI = 100
# run before the notebook's own cells, then removed: how figures are drawn into the outputs
SETUP = "\n".join([
    "%matplotlib inline",
    f"%config InlineBackend.rc = {{'figure.dpi': {DPI}}}",
    "%config InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight', 'metadata': {'Software': None}}",
])


def parameters_cell(notebook: nbformat.NotebookNode) -> int:
    """The index of the cell tagged `parameters` (papermill's convention), which every notebook has."""
    return next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))


def execute(notebook: nbformat.NotebookNode, cwd: Path, injected: str = "", timeout_s: int = 3600) -> None:
    """Run `notebook` in place in `cwd`, with `injected` code run right after its parameters cell
    (the tests size their runs so); the setup and injected cells are removed afterwards."""
    at = parameters_cell(notebook)
    extra = [(at + 1, injected)] if injected else []
    for index, source in sorted([(0, SETUP), *extra], reverse=True):
        notebook.cells.insert(index, nbformat.v4.new_code_cell(source, metadata={"ekkosim_injected": True}))
    NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    notebook.cells = [cell for cell in notebook.cells if not cell.metadata.get("ekkosim_injected")]


def stable(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as stored: execution counts 1, 2, ... and nothing that varies between machines."""
    notebook.metadata.pop("language_info", None)
    notebook.metadata.pop("widgets", None)
    count = 0
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = count
    return notebook


def refresh(path: Path, runs: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # start clean
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out = runs / path.stem
    execute(notebook, REPO, f"OUT = Path({str(out)!r})")
    nbformat.write(stable(notebook), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notebooks.refresh", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to refresh, e.g. congestion_quality (default: all)")
    parser.add_argument("--runs", type=Path, help="where their runs go (default: a fresh temporary folder)")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [path.name for path in paths if not path.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="ekkosim-notebooks-") as temporary:
        runs = (args.runs or Path(temporary)).resolve()
        for path in paths:
            print(f"refreshing {path.relative_to(REPO)}", file=sys.stderr, flush=True)
            refresh(path, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
