"""A results folder owns only what ekkosim wrote in it.

Every folder ekkosim writes results into (a run's, a sweep's, `reproduce`'s) keeps a manifest,
`manifest.json`: the files and folders ekkosim made there, each recorded before it is made.
A rerun into the folder may clear the files the manifest lists and nothing else, and a folder
that holds anything its manifest does not list (or anything at all, and no manifest) is
refused: it may be a user's project, given as `--out` by mistake. No symbolic link inside the
folder is followed: a file is written under a new temporary name (opened with O_EXCL and
O_NOFOLLOW) and renamed into place, so a link where it goes is replaced, not written through;
a file is cleared by unlinking it (a link goes, not what it points to); a listed folder that
is a link is refused.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ekkosim.input_file import InputFileError, read_bytes
from ekkosim.run_files import MANIFEST
from ekkosim.units import shown

MAX_MANIFEST_BYTES = 16 * 2**20


class RunFolderError(ValueError):
    """A results folder that cannot be used or read: not creatable, holding what ekkosim did not
    write, or damaged. One line, naming the folder."""


def partial_name(name: str) -> str:
    """Where a file is written before it is renamed into place (owned with the file)."""
    return f".{name}.partial"


def replace_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write the file at `path` through `write(file)`, all or nothing: into a new file beside it
    (a link there is removed, never followed), renamed over `path` once complete."""
    path = Path(path)
    partial = path.with_name(partial_name(path.name))
    _unlink(partial)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(partial, path)
    except BaseException:
        _unlink(partial)
        raise


def _unlink(path: Path) -> None:
    """Remove the file or link at `path` if there is one (a link itself, not its target)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _plain_name(name: object) -> bool:
    return (isinstance(name, str) and 0 < len(name) <= 255 and "/" not in name and "\0" not in name
            and name not in (".", ".."))


class OwnedFolder:
    """A results folder and its manifest: new, empty, or one whose every entry ekkosim wrote."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            if self.path.is_symlink():
                raise RunFolderError(f"{self.path}: a symbolic link; give the folder it points to as --out")
            self.path.mkdir(parents=True, exist_ok=True)
            entries = sorted(os.listdir(self.path))
        except OSError as err:
            raise RunFolderError(f"{self.path}: cannot use as a results folder: {err.strerror or err}") from None
        self.files, self.folders = self._read_manifest() if MANIFEST in entries else ([], [])
        owned = {MANIFEST, partial_name(MANIFEST), *self.files, *map(partial_name, self.files), *self.folders}
        foreign = [entry for entry in entries if entry not in owned]
        if foreign:
            shown_names = ", ".join(shown(name, 40) for name in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            one = len(foreign) == 1
            raise RunFolderError(f"{self.path}: holds {len(foreign)} entr{'y' if one else 'ies'} that ekkosim did "
                                 f"not write ({shown_names}; its {MANIFEST} does not list {'it' if one else 'them'}): "
                                 "choose another --out")
        for name in self.files:
            if self._kind(name) == "folder":
                raise RunFolderError(f"{self.path / name}: a folder where ekkosim wrote a file; choose another --out")
        for name in self.folders:
            if self._kind(name) not in (None, "folder"):
                raise RunFolderError(f"{self.path / name}: not the folder ekkosim made there (a link or a file); "
                                     "choose another --out")

    def _kind(self, name: str) -> str | None:
        try:
            mode = os.lstat(self.path / name).st_mode
        except FileNotFoundError:
            return None
        return "folder" if stat.S_ISDIR(mode) else "other"

    def _read_manifest(self) -> tuple[list[str], list[str]]:
        try:
            data = json.loads(read_bytes(self.path / MANIFEST, MAX_MANIFEST_BYTES, follow_links=False))
        except (InputFileError, ValueError, RecursionError) as err:
            raise RunFolderError(f"{self.path / MANIFEST}: damaged ({shown(str(err))}); choose another --out") from None
        names = [data.get(key) if isinstance(data, dict) else None for key in ("files", "folders")]
        if not all(isinstance(listed, list) and all(map(_plain_name, listed)) for listed in names):
            raise RunFolderError(f"{self.path / MANIFEST}: damaged (not lists of file and folder names); "
                                 "choose another --out")
        return names[0], names[1]

    def _save(self) -> None:
        text = json.dumps({"files": self.files, "folders": self.folders}, indent=1) + "\n"
        self._io(MANIFEST, lambda: replace_file(self.path / MANIFEST, lambda f: f.write(text.encode())))

    def _io(self, name: str, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as err:
            raise RunFolderError(f"{self.path / name}: cannot write: {err.strerror or err}") from None

    def write(self, name: str, write: Callable[[BinaryIO], None]) -> None:
        """Record `name` in the manifest, then write it (see `replace_file`)."""
        if name not in self.files:
            self.files.append(name)
            self._save()
        self._io(name, lambda: replace_file(self.path / name, write))

    def remove(self, name: str) -> None:
        """Remove the file `name` this folder's manifest lists, and its entry."""
        self._io(name, lambda: _unlink(self.path / name))
        self.files.remove(name)
        self._save()

    def clear(self, keep: tuple[str, ...] = ()) -> None:
        """Remove every file the manifest lists but those in `keep` (folders stay)."""
        for name in self.files:
            if name not in keep:
                self._io(name, lambda: (_unlink(self.path / name), _unlink(self.path / partial_name(name))))
        self.files = [name for name in self.files if name in keep]
        self._save()

    def subfolder(self, name: str) -> Path:
        """Record the folder `name` (its own manifest will say what is in it) and return its path."""
        if name not in self.folders:
            self.folders.append(name)
            self._save()
        return self.path / name


def claim_folder(root: Path, relative: str | Path) -> Path:
    """The folder `root/relative` for a run to write, each folder on the way recorded in its
    parent's manifest (sweeps and `reproduce` keep their runs in folders of their own)."""
    *parents, name = Path(relative).parts
    owner = OwnedFolder(root)
    for part in parents:
        owner = OwnedFolder(owner.subfolder(part))
    return owner.subfolder(name)
