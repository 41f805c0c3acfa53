"""A reader for the IDX format of MNIST and Fashion-MNIST (gzipped or not).

IDX layout (big-endian): two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions n, then n uint32 sizes, then the
data in C order.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .._io import read_file_bytes
from .._validation import DTypeError, NNDLError

__all__ = ["IDXError", "read_idx", "write_idx"]

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}


class IDXError(NNDLError, OSError):
    """A missing, unreadable or corrupt IDX file; the message names the file."""


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into a NumPy array in native byte order.

    Raises:
        IDXError: the file is missing, truncated, or not IDX.
    """
    path = Path(path)
    raw = read_file_bytes(path, name="IDX file", error=IDXError)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"IDX file {str(path)!r} is a corrupt gzip file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IDXError(f"IDX file {str(path)!r} is corrupt: bad magic number {raw[:4]!r}")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"IDX file {str(path)!r} is corrupt: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge headers
    if len(raw) - header != expected:
        raise IDXError(
            f"IDX file {str(path)!r} is corrupt: header says shape {shape} "
            f"({expected} bytes of data), file has {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as IDX (gzipped when ``compress`` or the name ends in ``.gz``)."""
    from .._io import atomic_write

    path = Path(path)
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DTypeError(
            f"array dtype {array.dtype} has no IDX type code; valid: uint8, int8, int16, int32, "
            "float32, float64"
        )
    data = (
        bytes([0, 0, code, array.ndim])
        + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
        + array.astype(_DTYPES[code]).tobytes()
    )
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data)
    return atomic_write(path, lambda handle: handle.write(data))
