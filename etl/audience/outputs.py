"""Where the filter's outputs go: never onto the input or onto each other, and only whole (issue 16).

- `clash`: the sentence refusing an output that is the input or another output. The same *file*,
  however it is named: ``os.path.samefile`` when both exist (hard links, symlinks), else the
  resolved paths (``./x.csv`` and ``x.csv``, ``a/../x.csv``, a symlink to a file not written yet).
  On main before this, ``x.csv --allowed x.csv`` truncated the input and reported "0 rows".
- `atomic_outputs`: each output is written to a hidden temporary file in its target's folder (the
  same file system, so the rename is atomic) and moved onto the target with ``os.replace`` only
  when the whole run succeeded. A run that fails, or is interrupted, removes its temporary files:
  no half or header-only output, and a previous output stays as it was. A target that is a
  symlink is written where it points (the link stays). Not fsynced: a power cut right after the
  rename can still lose the new content (the page cache), which a failing run cannot.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".partial"


def same_file(first: str | Path, second: str | Path) -> bool:
    """Whether both names reach one file, or would once written (see the module docstring)."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(first) == os.path.realpath(second)


def clash(input_path: Path, outputs: Sequence[tuple[str, Path]]) -> str | None:
    """One sentence refusing the first output (``(option, path)``, in order) that cannot be written; else None.

    Refused: an output that is the input or an earlier output, and one whose folder does not exist.
    """
    for position, (option, path) in enumerate(outputs):
        if same_file(path, input_path):
            return f"{option} {path} is the input file itself: writing it would destroy the input; choose another name"
        for other_option, other in outputs[:position]:
            if same_file(path, other):
                return f"{option} {path} is the same file as {other_option} {other}: choose another name"
        folder = Path(os.path.realpath(path)).parent
        if not folder.is_dir():
            return f"{option} {path}: the folder {folder} does not exist"
    return None


def _temporary(target: Path) -> tuple[Path, BinaryIO]:
    """A new hidden file beside ``target``, with the permissions ``target`` has (or would get)."""
    while True:
        path = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
        break
    with suppress(FileNotFoundError):
        os.chmod(path, stat.S_IMODE(target.stat().st_mode))
    return path, os.fdopen(descriptor, "wb")


@contextmanager
def atomic_outputs(*targets: str | Path) -> Iterator[list[BinaryIO]]:
    """Binary handles for ``targets``; they replace the targets only if the block ends without an exception."""
    finals = [Path(os.path.realpath(target)) for target in targets]
    temporaries: list[Path] = []
    handles: list[BinaryIO] = []
    try:
        for final in finals:
            path, handle = _temporary(final)
            temporaries.append(path)
            handles.append(handle)
        yield handles
        for handle in handles:
            handle.close()
        for path, final in zip(temporaries, finals):
            os.replace(path, final)
    except BaseException:
        for handle in handles:
            with suppress(OSError):
                handle.close()
        for path in temporaries:
            with suppress(FileNotFoundError):
                path.unlink()
        raise


def write_whole(target: str | Path, data: bytes) -> None:
    """``target`` replaced by ``data`` at once (the report), as `atomic_outputs` does."""
    with atomic_outputs(target) as (handle,):
        handle.write(data)
