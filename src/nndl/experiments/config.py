"""Typed experiment configs: presets per scale and ``--set key=value`` overrides.

An experiment's config is a dataclass whose fields have defaults; presets (``quick``, ``full``,
and ``tiny`` for the test suite) are dicts of overrides on those defaults. Overrides from the
command line arrive as strings and are converted by the field's annotated type; an unknown key
or a value of the wrong type raises :class:`ConfigError` naming the valid keys (closest first)
or the expected type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from .._validation import ValidationError, closest_first

__all__ = ["ConfigError", "build_config", "config_to_dict", "parse_override"]


class ConfigError(ValidationError):
    """An unknown config key or a value that does not fit the key's type."""


def _convert(raw: Any, annotation: Any, key: str) -> Any:
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
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls) if f.init}


def parse_override(config_cls: type, key: str, raw: Any) -> Any:
    """Convert one override value for ``key`` of ``config_cls`` (strings are parsed)."""
    types_ = _field_types(config_cls)
    if key not in types_:
        raise ConfigError(
            f"unknown config key {key!r}; valid: {', '.join(closest_first(key, types_))}"
        )
    return _convert(raw, types_[key], key)


def build_config(
    config_cls: type, preset: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] = ()
) -> Any:
    """``config_cls(**preset, **overrides)`` with every value converted and checked."""
    values: dict[str, Any] = {}
    for source in (preset or {}, dict(overrides)):
        for key, raw in source.items():
            values[key] = parse_override(config_cls, key, raw)
    return config_cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
