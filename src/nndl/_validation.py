"""Argument checks shared by the whole package (public as :mod:`nndl.validation`).

Every public function validates what a caller passes in with these helpers, *before* doing any
work, and raises a :class:`ValueError`/:class:`TypeError` subclass whose message names the
argument, what was expected and what came. ``assert`` is never used for user input (``python -O``
removes it). One class per kind of error:

- :class:`DTypeError` (a ``TypeError``): the wrong Python type, or a tensor of the wrong dtype
  (also two tensors whose dtypes differ);
- :class:`ShapeError` (a :class:`ValidationError`): the wrong number of dimensions or sizes;
- :class:`ValidationError` (a ``ValueError``): every other wrong value — out of range, NaN/Inf,
  an unknown name, tensors on different devices.

Files that are missing, corrupt or cannot be written raise ``OSError`` subclasses of
:class:`NNDLError` defined beside the code that reads or writes them.

Example:
    >>> import torch
    >>> check_shape(torch.zeros(4, 3, 8, 8), "B 2 H W", name="flow")
    Traceback (most recent call last):
    ...
    nndl._validation.ShapeError: flow must have shape (B, 2, H, W) = (4, 2, H, W), got (4, 3, 8, 8)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

__all__ = [
    "DTypeError",
    "NNDLError",
    "ShapeError",
    "ValidationError",
    "check_choice",
    "check_dtype",
    "check_finite",
    "check_image",
    "check_in_range",
    "check_int",
    "check_positive_int",
    "check_same_device",
    "check_same_dtype",
    "check_same_shape",
    "check_shape",
    "closest_first",
    "unknown_name_message",
]


class NNDLError(Exception):
    """Base class of every error nndl raises on purpose."""


class ValidationError(NNDLError, ValueError):
    """An argument has the wrong value (range, NaN/Inf, unknown name, …)."""


class ShapeError(ValidationError):
    """A tensor has the wrong number of dimensions or the wrong size.

    Attributes:
        expected: the symbolic shape that was asked for, e.g. ``("B", 2, "H", "W")``.
        actual: the shape that came.
    """

    def __init__(self, message: str, expected: Sequence[Any], actual: Sequence[int]):
        super().__init__(message)
        self.expected = tuple(expected)
        self.actual = tuple(actual)


class DTypeError(NNDLError, TypeError):
    """A tensor or argument has the wrong type or dtype."""


def closest_first(name: str, valid: Iterable[str]) -> list[str]:
    """Return ``valid`` sorted by similarity to ``name`` (closest first, ties alphabetical).

    Names that start with ``name`` come first, then names that contain it, then the rest by
    :class:`difflib.SequenceMatcher` ratio.
    """
    low = name.lower()

    def key(v: str) -> tuple[int, float, str]:
        lv = v.lower()
        rank = 0 if lv.startswith(low) else 1 if low in lv else 2
        return (rank, -difflib.SequenceMatcher(None, low, lv).ratio(), v)

    return sorted(valid, key=key)


def unknown_name_message(kind: str, name: str, valid: Iterable[str]) -> str:
    """``"unknown activation 'relu6'; valid: relu, rrelu, …"`` with the closest names first."""
    return f"unknown {kind} {name!r}; valid: {', '.join(closest_first(name, valid))}"


def check_choice(value: Any, valid: Iterable[str] | Mapping[str, Any], *, name: str) -> str:
    """Check that ``value`` is one of the names in ``valid`` and return it."""
    options = list(valid)
    if not isinstance(value, str) or value not in options:
        raise ValidationError(unknown_name_message(name, str(value), options))
    return value


def _fmt_dims(dims: Sequence[Any]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def check_shape(
    tensor: Any, spec: str | Sequence[Any], *, name: str, sizes: dict[str, int] | None = None
) -> dict[str, int]:
    """Check a tensor against a symbolic shape such as ``"B C H W"`` or ``"B 2 H W"``.

    Letters bind to sizes (the same letter must have the same size everywhere, also across calls
    that share ``sizes``); integers must match exactly; ``*`` at either end allows any number of
    extra leading or trailing dimensions.

    Returns:
        The dict of bound letter sizes (``sizes``, updated).

    Raises:
        DTypeError: ``tensor`` is not a ``torch.Tensor``.
        ShapeError: wrong number of dimensions or a size that does not match.
    """
    if not isinstance(tensor, torch.Tensor):
        raise DTypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    dims = spec.split() if isinstance(spec, str) else list(spec)
    parsed: list[Any] = [int(d) if isinstance(d, str) and d.isdigit() else d for d in dims]
    sizes = {} if sizes is None else sizes
    shape = tuple(tensor.shape)
    lead = bool(parsed) and parsed[0] == "*"
    trail = bool(parsed) and parsed[-1] == "*" and len(parsed) > 1
    core = parsed[int(lead) : len(parsed) - int(trail)]
    shown = _fmt_dims(parsed)
    if (not lead and not trail and len(shape) != len(core)) or len(shape) < len(core):
        raise ShapeError(
            f"{name} must have shape {shown} ({len(core)} dimensions), got {_fmt_dims(shape)}",
            parsed,
            shape,
        )
    offset = len(shape) - len(core) if lead else 0
    for i, want in enumerate(core):
        got = shape[offset + i]
        ok = got == want if isinstance(want, int) else sizes.setdefault(want, got) == got
        if not ok:
            expected = [sizes.get(d, d) if isinstance(d, str) else d for d in parsed]
            raise ShapeError(
                f"{name} must have shape {shown}"
                + (f" = {_fmt_dims(expected)}" if expected != parsed else "")
                + f", got {_fmt_dims(shape)}",
                parsed,
                shape,
            )
    return sizes


def check_same_shape(
    a: torch.Tensor, b: torch.Tensor, *, names: tuple[str, str], what: str = "shape"
) -> None:
    """Raise :class:`ShapeError` unless ``a`` and ``b`` have the same shape.

    ``what`` is how the message calls the shape (``"size"``, ``"dimension F"`` …).

    Example:
        >>> check_same_shape(torch.zeros(3), torch.zeros(4), names=("a", "b"), what="length")
        Traceback (most recent call last):
        ...
        nndl._validation.ShapeError: a and b must have the same length, got (3) and (4)
    """
    if a.shape != b.shape:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same {what}, got "
            f"{_fmt_dims(a.shape)} and {_fmt_dims(b.shape)}",
            tuple(a.shape),
            tuple(b.shape),
        )


def check_dtype(
    tensor: torch.Tensor, *, name: str, floating: bool = True, allowed: Iterable[torch.dtype] = ()
) -> None:
    """Require a floating-point tensor (or one of ``allowed`` dtypes)."""
    allowed = tuple(allowed)
    if allowed and tensor.dtype not in allowed:
        raise DTypeError(
            f"{name} must have dtype in {{{', '.join(str(d) for d in allowed)}}}, "
            f"got {tensor.dtype}"
        )
    if floating and not allowed and not tensor.is_floating_point():
        raise DTypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")


def check_finite(value: Any, *, name: str) -> None:
    """Raise unless every element of a tensor/array/number is finite (no NaN, no ±Inf)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            bad = ~torch.isfinite(value)
            n_bad = int(bad.sum())
            if n_bad:
                n_nan = int(torch.isnan(value).sum())
                raise ValidationError(
                    f"{name} must be finite, got {n_nan} NaN and {n_bad - n_nan} infinite "
                    f"values out of {value.numel()}"
                )
        return
    try:
        import numpy as np

        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise DTypeError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if not np.isfinite(arr).all():
        raise ValidationError(
            f"{name} must be finite, got {int((~np.isfinite(arr)).sum())} non-finite values"
        )


def check_int(value: Any, *, name: str, low: int | None = None, high: int | None = None) -> int:
    """Require an ``int`` (``bool`` excluded) within ``[low, high]``; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise DTypeError(
                f"{name} must be an int, got {type(value).__name__} {value!r}"
            ) from None
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ValidationError(f"{name} must be an int in the range {rng}, got {value}")
    return value


def check_positive_int(value: Any, *, name: str) -> int:
    """Require an int >= 1."""
    return check_int(value, name=name, low=1)


def check_in_range(
    value: Any,
    *,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Require a finite real number in the given interval; return it as ``float``.

    ``allow_inf`` lets ±Inf through when the interval holds it (NaN is always refused).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise DTypeError(f"{name} must be a number, got {type(value).__name__}") from None
    value = float(value)
    ok_low = value >= low if low_inclusive else value > low
    ok_high = value <= high if high_inclusive else value < high
    if math.isnan(value) or not (ok_low and ok_high) or (math.isinf(value) and not allow_inf):
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        finite = " and finite" if math.isinf(value) and ok_low and ok_high else ""
        raise ValidationError(
            f"{name} must be in the range {lb}{low}, {high}{hb}{finite}, got {value}"
        )
    return value


def _tensors(tensors: Sequence[Any], names: Sequence[str]) -> None:
    if len(tensors) != len(names):
        raise ValidationError(
            f"names must name every tensor: {len(tensors)} tensors, {len(names)} names"
        )
    for t, n in zip(tensors, names, strict=True):
        if not isinstance(t, torch.Tensor):
            raise DTypeError(f"{n} must be a torch.Tensor, got {type(t).__name__}")


def _check_all_equal(
    values: Sequence[Any], names: Sequence[str], rule: str, sep: str, error: type[Exception]
) -> None:
    """Raise ``error`` ("a, b must <rule>, got a<sep>v_a, b<sep>v_b") unless all values agree."""
    if any(v != values[0] for v in values[1:]):
        listed = ", ".join(f"{n}{sep}{v}" for n, v in zip(names, values, strict=True))
        raise error(f"{', '.join(names)} must {rule}, got {listed}")


def check_same_device(*tensors: torch.Tensor, names: Sequence[str]) -> torch.device:
    """Raise :class:`ValidationError` unless every tensor lives on the same device; return it.

    Example:
        >>> check_same_device(torch.zeros(2), torch.ones(3), names=("a", "b"))
        device(type='cpu')
    """
    _tensors(tensors, names)
    devices = [t.device for t in tensors]
    _check_all_equal(devices, names, "be on the same device", " on ", ValidationError)
    return devices[0]


def check_same_dtype(*tensors: torch.Tensor, names: Sequence[str]) -> torch.dtype:
    """Raise :class:`DTypeError` unless every tensor has the same dtype; return it."""
    _tensors(tensors, names)
    dtypes = [t.dtype for t in tensors]
    _check_all_equal(dtypes, names, "have the same dtype", " ", DTypeError)
    return dtypes[0]


def check_image(
    image: Any,
    *,
    name: str,
    batched: bool | None = None,
    channels: int | Sequence[int] | None = None,
    min_size: int = 1,
    finite: bool = True,
) -> torch.Tensor:
    """Require a floating-point image Tensor[C, H, W] or batch Tensor[B, C, H, W]; return it.

    Args:
        image: the tensor to check.
        name: the argument's name in messages.
        batched: True: (B, C, H, W) only; False: (C, H, W) only; None: either.
        channels: the allowed channel counts C (None: any).
        min_size: the smallest H and W allowed.
        finite: also reject NaN and ±Inf pixels.

    Raises:
        DTypeError: not a tensor, or not floating point.
        ShapeError: the wrong number of dimensions, channels, or an image smaller than
            ``min_size`` × ``min_size`` (or an empty batch).
        ValidationError: NaN or infinite pixels (``finite``).
    """
    if not isinstance(image, torch.Tensor):
        raise DTypeError(f"{name} must be a torch.Tensor image, got {type(image).__name__}")
    dims = {None: (3, 4), True: (4,), False: (3,)}[batched]
    spec = {3: "(C, H, W)", 4: "(B, C, H, W)"}
    if image.ndim not in dims:
        wanted = " or ".join(spec[d] for d in dims)
        raise ShapeError(
            f"{name} must have shape {wanted}, got {_fmt_dims(image.shape)}",
            ("B", "C", "H", "W") if 4 in dims else ("C", "H", "W"),
            tuple(image.shape),
        )
    check_dtype(image, name=name)
    c, h, w = image.shape[-3:]
    allowed = (channels,) if isinstance(channels, int) else channels
    if allowed is not None and c not in tuple(allowed):
        raise ShapeError(
            f"{name} must have {' or '.join(map(str, allowed))} channels, got shape "
            f"{_fmt_dims(image.shape)}",
            tuple(image.shape),
            tuple(image.shape),
        )
    if min(h, w) < min_size or image.numel() == 0:
        raise ShapeError(
            f"{name} must be at least {min_size} × {min_size} pixels and not empty, got shape "
            f"{_fmt_dims(image.shape)}",
            tuple(image.shape),
            tuple(image.shape),
        )
    if finite:
        check_finite(image, name=name)
    return image
