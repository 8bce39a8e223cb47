"""Docs that hold: every file a text of the repository names ("X.md") is in the repository, no
text cites a section by its number except of a document that numbers its sections (the Raft
paper), and the comparisons of the README and getting-started name the folders their runs write."""

import re
import shlex
from pathlib import Path

import pytest

from ekkosim.runner import default_out
from ekkosim.scenario import load
from tests.conftest import REPO

SKIPPED = {".git", ".venv", "site", "runs", ".cache", "__pycache__", ".hypothesis", ".pytest_cache"}
SUFFIXES = {".md", ".py", ".yaml", ".yml", ".ipynb", ".json", ".toml", ".txt"}
# documents outside the repository that number their sections, cited as "<name> ... section N"
NUMBERED = ("Raft",)
GENERATED = "reference.md"  # a page the docs site generates from the schema (docs/hooks/reference.py)
MD = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)\b")
SECTION = re.compile(r"\bsections? \d+(?:\.\d+)*")


def _texts():
    for path in sorted(REPO.rglob("*")):
        parts = set(path.relative_to(REPO).parts)
        if path.suffix in SUFFIXES and path.is_file() and not parts & SKIPPED and "egg-info" not in str(path):
            yield path


TEXTS = list(_texts())


def _resolves(name: str, source: Path) -> bool:
    """A file name resolves beside the text that names it, from the repository's top, or in docs/
    (the site's pages link to each other by bare names)."""
    if Path(name).name == GENERATED:
        return f'"{GENERATED}"' in (REPO / "docs" / "hooks" / "reference.py").read_text()
    return any((base / name).is_file() for base in (source.parent, REPO, REPO / "docs"))


def test_every_named_file_is_in_the_repository_and_no_section_is_cited_by_number():
    problems = []
    for path in TEXTS:
        if path == Path(__file__):
            continue
        where = path.relative_to(REPO)
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{where}: names {name}, not in the repository"
                     for name in sorted(set(MD.findall(text))) if not _resolves(name, path)]
        for match in SECTION.finditer(text):
            before = text[max(0, match.start() - 40):match.start()]
            if not any(name in before for name in NUMBERED):
                problems.append(f"{where}: ...{before}{match.group()}: of what? cite a page's section by its "
                                f"heading (docs/design.md, \"The sync\")")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_the_texts_and_would_catch_a_missing_page():
    names = {p.relative_to(REPO).as_posix() for p in TEXTS}
    assert {"README.md", "docs/design.md", "ekkosim/cli.py", "scenarios/faults.yaml", "ekkosim.schema.json"} <= names
    assert not _resolves("DESIGN.md", REPO / "docs" / "sync.md")
    assert _resolves("sync.md", REPO / "docs" / "design.md") and _resolves("docs/sync.md", REPO / "README.md")
    assert MD.findall("see DESIGN.md section 2, docs/sync.md and [x](design.md#the-sync)") == [
        "DESIGN.md", "docs/sync.md", "design.md"]


def _commands(page: Path) -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)
    lines = [command.split("#")[0].strip() for block in blocks for line in block.splitlines()
             for command in line.split("&&")]
    return [shlex.split(line) for line in lines if line.startswith("ekkosim ")]


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_comparisons_name_the_folders_the_pages_runs_write(page):
    written = set()
    commands = _commands(REPO / page)
    for words in commands:
        if words[1] == "run" and "--out" not in words:
            overrides = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
            overrides += [f"seed={words[i + 1]}" for i, word in enumerate(words) if word == "--seed"]
            written.add(str(default_out(load(REPO / words[2], overrides))))
    compared = [words[2:] for words in commands if words[1] == "compare"]
    assert compared
    for folders in compared:
        assert set(folders) <= written, f"ekkosim compare {' '.join(folders)}: the page's runs write {written}"
