"""The command re-executes itself with glibc's huge pages tunable where it helps, and only there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ekkosim import huge_pages
from ekkosim.huge_pages import huge_pages_environment

MADVISE = "always [madvise] never\n"
ON = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "EKKOSIM_REEXECUTED": "1"}


def test_tunable_added_on_a_glibc_that_knows_it():
    assert huge_pages_environment({"HOME": "/h"}, "glibc 2.35", MADVISE) == {"HOME": "/h", **ON}
    assert huge_pages_environment({}, "glibc 3.0", MADVISE) == ON


def test_tunables_already_set_are_kept():
    environ = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert huge_pages_environment(environ, "glibc 2.36", MADVISE) == {
        **ON, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
    assert environ == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}  # not changed in place


def test_nothing_where_nothing_is_gained_or_the_user_chose():
    assert huge_pages_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "glibc 2.36", MADVISE) is None
    assert huge_pages_environment({}, "glibc 2.34", MADVISE) is None  # the tunable came in 2.35
    assert huge_pages_environment({}, "glibc 2.9", MADVISE) is None  # (not compared as text)
    assert huge_pages_environment({}, None, MADVISE) is None  # not glibc (musl, macOS)
    assert huge_pages_environment({}, "glibc", MADVISE) is None
    assert huge_pages_environment({}, "glibc 2.36", "always madvise [never]") is None
    assert huge_pages_environment({}, "glibc 2.36", "[always] madvise never") is None  # (huge pages unasked)
    # started again already: the loader may have dropped the tunable (a privileged program)
    assert huge_pages_environment({"EKKOSIM_REEXECUTED": "1"}, "glibc 2.36", MADVISE) is None
    assert huge_pages_environment({}, "glibc 2.36", None) is None  # a kernel without them


def test_a_program_re_executes_once_with_the_same_command_line(tmp_path: Path):
    """The process started again with its own command line, and the tunable set where this machine
    gains from it (nothing otherwise): the code before the call runs twice, what follows once."""
    program = ("import os, sys; from ekkosim.huge_pages import exec_with_huge_pages; "
               "print('start', sys.argv[1:], flush=True); exec_with_huge_pages(); "
               "print('after', os.environ.get('GLIBC_TUNABLES'))")
    environ = {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", huge_pages.MARK)}
    done = subprocess.run([sys.executable, "-c", program, "a b", "c"], capture_output=True, text=True, env=environ,
                          check=True)
    try:
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        thp = None
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") and sys.platform == "linux" else None
    expected = huge_pages_environment(environ, libc, thp) if sys.platform == "linux" else None
    if expected is None:
        assert done.stdout == "start ['a b', 'c']\nafter None\n"
    else:
        assert done.stdout == f"start ['a b', 'c']\nstart ['a b', 'c']\nafter {expected['GLIBC_TUNABLES']}\n"


def test_the_process_is_executed_again_with_its_command_line(monkeypatch):
    calls = []
    monkeypatch.setattr(huge_pages.sys, "platform", "linux")
    monkeypatch.setattr(huge_pages.os, "confstr", lambda name: "glibc 2.36", raising=False)
    monkeypatch.setattr(huge_pages, "_THP_SETTING", type("Setting", (), {"read_text": lambda self: MADVISE})())
    monkeypatch.setattr(huge_pages.sys, "orig_argv", ["python", "-X", "dev", "-m", "ekkosim", "run", "a b.yaml"])
    monkeypatch.setattr(huge_pages.os, "environ", {"PATH": "/bin"})
    monkeypatch.setattr(huge_pages.os, "execve", lambda *args: calls.append(args))
    huge_pages.exec_with_huge_pages()
    assert calls == [(sys.executable, ["python", "-X", "dev", "-m", "ekkosim", "run", "a b.yaml"], {"PATH": "/bin", **ON})]
    monkeypatch.setattr(huge_pages.os, "environ", calls[0][2])  # as the process started again sees it
    huge_pages.exec_with_huge_pages()
    assert len(calls) == 1

    def refused(*args):
        raise PermissionError("not executable")

    monkeypatch.setattr(huge_pages.os, "environ", {"PATH": "/bin"})
    monkeypatch.setattr(huge_pages.os, "execve", refused)
    huge_pages.exec_with_huge_pages()  # runs on without them


@pytest.mark.parametrize("module", ["ekkosim", "ekkosim.huge_pages"])
def test_the_package_imports_light(module: str):
    """What the command imports before it re-executes: nothing heavy, so that nothing is done twice."""
    light = subprocess.run([sys.executable, "-c", f"import sys, {module}; print(sorted(m for m in sys.modules "
                            "if m.split('.')[0] in ('numpy', 'simpy', 'pydantic', 'numba', 'rich')))"],
                           capture_output=True, text=True, check=True)
    assert light.stdout == "[]\n"
