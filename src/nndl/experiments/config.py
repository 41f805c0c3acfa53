"""Typed experiment configs: presets per scale and ``--set key=value`` overrides.

An experiment's config is a dataclass whose fields have defaults; presets (``quick``, ``full``,
and ``tiny`` for the test suite) are dicts of overrides on those defaults. Overrides from the
command line arrive as strings and are converted by the field's annotated type; an unknown key
or a value of the wrong type raises :class:`ConfigError` naming the valid keys (closest first)
or the expected type.

Ranges are checked too, before any work: every number must be finite; by default an ``int``
field must be ≥ 1 (counts, sizes, epochs), a ``float`` field ≥ 0, a ``str`` non-empty and a
tuple non-empty (its items follow the item type's rule). A field that needs another range says
so with ``Annotated[int, Range(0)]`` or ``Annotated[float, Range(-1.0, 1.0)]`` (on a tuple the
range applies to every item). Cross-field rules go in the dataclass's ``__post_init__`` and
raise :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from .._validation import ValidationError, closest_first

__all__ = ["ConfigError", "Range", "build_config", "config_to_dict", "parse_override"]


class ConfigError(ValidationError):
    """An unknown config key or a value that does not fit the key's type or range."""


@dataclass(frozen=True)
class Range:
    """Allowed closed range of a numeric config field: ``Annotated[int, Range(0, 10)]``.

    ``None`` leaves that side open. Without a ``Range`` an int must be ≥ 1 and a float ≥ 0.
    """

    low: float | None = None
    high: float | None = None

    def check(self, value: float, key: str) -> None:
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            raise ConfigError(f"{key} must be in the range [{lo}, {hi}], got {value!r}")


_DEFAULT_RANGE = {int: Range(1), float: Range(0.0)}


def _split_annotated(annotation: Any) -> tuple[Any, Range | None]:
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        ranges = [e for e in extras if isinstance(e, Range)]
        return base, (ranges[0] if ranges else None)
    return annotation, None


def _check_range(value: Any, annotation: Any, key: str, declared: Range | None = None) -> None:
    """Finite numbers within their range, non-empty strings and tuples (see module docstring)."""
    annotation, own = _split_annotated(annotation)
    rng = own or declared
    origin = get_origin(annotation)
    if value is None:
        return
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            base = _split_annotated(arg)[0]
            if base is not type(None) and isinstance(value, get_origin(base) or base):
                _check_range(value, arg, key, rng)
                return
        return
    if origin in (tuple, list):
        if len(value) == 0:
            raise ConfigError(f"{key} must hold at least one value, got an empty list")
        inner = get_args(annotation)[0] if get_args(annotation) else str
        for item in value:
            _check_range(item, inner, key, rng)
        return
    if annotation is str and origin is None and value == "":
        raise ConfigError(f"{key} must be a non-empty string, got ''")
    if annotation in (int, float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        (rng or _DEFAULT_RANGE[annotation]).check(value, key)


def _convert(raw: Any, annotation: Any, key: str) -> Any:
    annotation = _split_annotated(annotation)[0]
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        is_none = raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(raw, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: cannot convert {raw!r}")
    if origin is Literal:
        if raw in args:
            return raw
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {raw!r}")
    if origin in (tuple, list):
        if isinstance(raw, str):
            items: list[Any] = [s.strip() for s in raw.split(",") if s.strip()]
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            raise ConfigError(f"{key} expects a comma-separated list, got {raw!r}")
        inner = args[0] if args else str
        converted = [_convert(item, inner, key) for item in items]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} expects a bool (true/false), got {raw!r}")
    if annotation is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} expects an int, got {raw!r}")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{key} expects an int, got {raw!r}") from None
    if annotation is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} expects a float, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} expects a float, got {raw!r}") from None
    if annotation is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{key} expects a string, got {raw!r}")
        return raw
    return raw


def _field_types(config_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls) if f.init}


def parse_override(config_cls: type, key: str, raw: Any) -> Any:
    """Convert one override value for ``key`` of ``config_cls`` (strings are parsed)."""
    types_ = _field_types(config_cls)
    if key not in types_:
        raise ConfigError(
            f"unknown config key {key!r}; valid: {', '.join(closest_first(key, types_))}"
        )
    value = _convert(raw, types_[key], key)
    _check_range(value, types_[key], key)
    return value


def build_config(
    config_cls: type,
    preset: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """``config_cls(**preset, **overrides)`` with every value converted and range-checked.

    Defaults are checked as well, so a config class whose own defaults break its ranges fails
    at registration.
    """
    values: dict[str, Any] = {}
    for source in (preset or {}, dict(overrides or {})):
        for key, raw in source.items():
            values[key] = parse_override(config_cls, key, raw)
    config = config_cls(**values)
    types_ = _field_types(config_cls)
    for key, annotation in types_.items():
        if key not in values:
            _check_range(getattr(config, key), annotation, key)
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
