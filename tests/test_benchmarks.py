"""`python -m benchmarks`: one quick case end to end, and a bad case name. No timing is asserted:
the speed targets live in the benchmark's own table (docs/performance.md)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _benchmarks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_quick_case_prints_its_row_with_every_column():
    result = _benchmarks("--quick", "--cases", "keys_1e5", "--wall-limit", "1")
    assert result.returncode == 0, result.stderr
    header, rule, row = result.stdout.strip().splitlines()
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "case", "build s", "simulated s", "wall s", "CPU s", "simulated/wall", "events", "events/wall s", "flows",
        "keys examined", "peak RSS GiB", "ran at", "load"]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "keys_1e5" and int(cells[6].replace(",", "")) > 0


def test_an_unknown_case_is_one_line_and_exit_2():
    result = _benchmarks("--quick", "--cases", "nonesuch")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nonesuch" in result.stderr
