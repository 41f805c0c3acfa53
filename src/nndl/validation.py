"""Public argument checks and error classes: what nndl's own functions use, for yours too.

One class per kind of error (see :mod:`nndl._validation`):

- :class:`DTypeError` (``TypeError``): wrong type or dtype, also dtypes that differ;
- :class:`ShapeError` (:class:`ValidationError`): wrong dimensions or sizes;
- :class:`ValidationError` (``ValueError``): any other wrong value (range, NaN/Inf, unknown
  name, tensors on different devices);
- :class:`NNDLError`: the base of all of them, and of the ``OSError`` subclasses raised for
  files (``CheckpointError``, ``IDXError``, ``ImageFileError``, ``OutputPathError``).

Example:
    >>> import torch
    >>> from nndl.validation import check_image, check_same_device
    >>> check_image(torch.zeros(1, 8, 8), name="img").shape
    torch.Size([1, 8, 8])
    >>> check_same_device(torch.zeros(1), torch.zeros(2), names=("a", "b"))
    device(type='cpu')
"""

from __future__ import annotations

from ._io import OutputDirError, OutputPathError
from ._validation import *  # noqa: F403 - the public face of nndl._validation, name for name
from ._validation import __all__ as _checks

__all__ = [*_checks, "OutputDirError", "OutputPathError"]
