"""Atomic file writes: a reader sees either the old file or the new one, never half of one.

Every file nndl writes (results, reports, checkpoints, figures) goes through these helpers. The
data are written to a temporary file in the same folder, flushed and ``fsync``-ed, then moved over
the target with :func:`os.replace`, which is atomic on POSIX and Windows. If anything fails before
the move, the temporary file is removed and the previous file is left intact.
:func:`read_file_bytes` reads a whole file, with one wording of the errors for every format.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ._validation import DTypeError, NNDLError

__all__ = [
    "OutputDirError",
    "OutputPathError",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_file",
    "ensure_dir",
    "read_file_bytes",
]


class OutputPathError(NNDLError, OSError):
    """An output path cannot be written (a folder where a file goes, a file where a folder goes,
    no permission); the message names the path."""


class OutputDirError(OutputPathError):
    """An output folder cannot be created or written."""


def check_output_file(path: str | os.PathLike[str], *, name: str = "output file") -> Path:
    """Check, without writing anything, that a file can be written at ``path``; return it.

    Raises:
        OutputPathError: ``path`` is an existing folder, or one of its parents is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{name} {str(path)!r} is a folder; give a file name inside it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(
                    f"{name} {str(path)!r} cannot be written: {str(parent)!r} is a file, "
                    "not a folder"
                )
            break
    return path


def read_file_bytes(
    path: str | os.PathLike[str],
    *,
    name: str,
    error: type[OSError],
    expected: str = "a file",
) -> bytes:
    """The whole content of the file at ``path``, or ``error`` with a message naming it.

    Args:
        path: the file to read.
        name: what the file is, for messages (``"IDX file"``, ``"checkpoint"``).
        error: the OSError subclass raised; it takes the message as its only argument.
        expected: what a folder at ``path`` should have been (``"a .safetensors file"``).

    Raises:
        error: ``path`` is a folder, does not exist, or cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{name} {str(path)!r} is a folder, not {expected}")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{name} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise error(f"{name} {str(path)!r} cannot be read: {exc.strerror}") from None


def ensure_dir(path: str | os.PathLike[str], *, name: str = "output folder") -> Path:
    """Create ``path`` (and parents) and check that it is writable; return it as a ``Path``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"{name} {str(path)!r} cannot be created: {exc.strerror}") from exc
    if not path.is_dir():
        raise OutputDirError(f"{name} {str(path)!r} is not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(f"{name} {str(path)!r} is not writable")
    return path


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], *, mode: int = 0o644
) -> Path:
    """Call ``write(fileobj)`` on a temporary file, then move it over ``path`` atomically.

    Raises:
        OutputPathError: ``path`` is a folder, or its folder cannot be made (before ``write``).
    """
    path = check_output_file(path)
    directory = ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "tolist"):  # torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise DTypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _finite_or_none(obj: Any) -> Any:
    """Replace NaN/Inf floats by strings so that the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays to plain Python, NaN/Inf to strings."""
    return _finite_or_none(json.loads(json.dumps(obj, default=_json_default, allow_nan=True)))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as pretty, standard JSON (no NaN literals) to ``path`` atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")
