"""Checkpoints as safetensors + JSON: no pickle, so loading one never runs code.

One checkpoint is one ``.safetensors`` file holding named tensors and a JSON metadata string (so
the tensors and the metadata are replaced together, atomically), plus a ``.json`` copy of the
metadata beside it for people to read. Optimizer state is flattened into tensors
(``optim.state.<param index>.<name>``) and JSON (hyper-parameters, non-tensor state).

Metadata are validated before anything uses them: they must be a JSON object whose
``format_version`` nndl can read, and a checkpoint whose ``kind`` has a registered
:class:`MetadataSchema` must hold that schema's keys with the right JSON types. Models share one
scheme (:func:`save_model` / :func:`load_model`): metadata ``{"kind", "version", "config"}``
where ``kind`` is the model's public class name (``"nndl.generative.VAE"``), ``config`` its
constructor arguments and the tensors its ``state_dict()`` under ``model.``.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .._io import atomic_write, atomic_write_json, check_output_file, to_jsonable
from .._validation import NNDLError

__all__ = [
    "FORMAT_VERSION",
    "MODEL_VERSION",
    "CheckpointError",
    "MetadataSchema",
    "load_checkpoint",
    "load_model",
    "pack_optimizer_state",
    "register_schema",
    "save_checkpoint",
    "save_model",
    "unpack_optimizer_state",
    "validate_metadata",
]

_META_KEY = "nndl"
FORMAT_VERSION = 1
#: Version of the model scheme written by :func:`save_model`.
MODEL_VERSION = 1
_MODEL_PREFIX = "model."
_JSON_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


class CheckpointError(NNDLError, OSError):
    """A checkpoint that is missing, corrupt or does not fit the model; the message names it."""


@dataclass(frozen=True)
class MetadataSchema:
    """What the metadata of one checkpoint ``kind`` must hold.

    Attributes:
        kind: the value of the metadata's ``"kind"`` key.
        required: key → accepted Python types of its JSON value (``float`` accepts integers too;
            ``int`` never accepts ``true``/``false``).
        optional: keys that may be missing, with the types they must have when present.
        versions: the ``"version"`` values this nndl reads (a missing version reads as 1).
    """

    kind: str
    required: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    optional: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    versions: tuple[int, ...] = (1,)


_SCHEMAS: dict[str, MetadataSchema] = {}


def register_schema(schema: MetadataSchema) -> MetadataSchema:
    """Make :func:`load_checkpoint` validate every checkpoint of ``schema.kind``; return it."""
    _SCHEMAS[schema.kind] = schema
    return schema


def _model_schema(kind: str) -> MetadataSchema:
    return MetadataSchema(kind, required={"config": (dict,)}, versions=(MODEL_VERSION,))


#: Training checkpoints of :class:`~nndl.train.Trainer` (kind ``"trainer"``).
register_schema(
    MetadataSchema(
        "trainer",
        required={"epoch": (int,), "step": (int,)},
        optional={
            "history": (list,),
            "optimizer": (dict,),
            "optimizers": (dict,),
            "model_meta": (dict,),
        },
    )
)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _json_type(value: Any) -> str:
    for typ in (bool, dict, list, str, int, float):
        if isinstance(value, typ):
            return _JSON_NAMES[typ]
    return "null" if value is None else type(value).__name__


def validate_metadata(
    meta: Any, *, path: str | os.PathLike[str], expected_kind: str | None = None
) -> dict[str, Any]:
    """Check checkpoint metadata against its schema before anything uses it; return it.

    Args:
        meta: the decoded JSON metadata.
        path: the checkpoint, named in every message.
        expected_kind: the ``kind`` the caller needs (None: any); a kind without a registered
            schema but equal to ``expected_kind`` is checked as a model (``config`` an object).

    Raises:
        CheckpointError: metadata that is not an object, a ``format_version`` or ``version``
            this nndl cannot read, another kind, a missing key or a key of the wrong type.
    """
    where = f"checkpoint {str(path)!r}"
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} has metadata that is {_json_type(meta)}, not an object")
    fmt = meta.get("format_version", FORMAT_VERSION)
    if not _type_ok(fmt, (int,)) or not 1 <= fmt <= FORMAT_VERSION:
        raise CheckpointError(
            f"{where} has format_version {fmt!r}; this nndl reads 1..{FORMAT_VERSION}"
        )
    kind = meta.get("kind")
    if expected_kind is not None and kind != expected_kind:
        short = expected_kind.rpartition(".")[2]
        raise CheckpointError(
            f"{where} is not a {short} checkpoint: it holds kind {kind!r}, expected "
            f"{expected_kind!r}"
        )
    schema = _SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None and expected_kind is not None:
        schema = _model_schema(expected_kind)
    if schema is None:
        return meta
    version = meta.get("version", 1)
    if not _type_ok(version, (int,)) or version not in schema.versions:
        raise CheckpointError(
            f"{where} has {kind} version {version!r}; this nndl reads "
            f"{', '.join(map(str, schema.versions))}"
        )
    for key in schema.required:
        if key not in meta:
            raise CheckpointError(f"{where} is incomplete: its {kind} metadata lacks {key!r}")
    for key, types in {**schema.optional, **schema.required}.items():
        if key in meta and not _type_ok(meta[key], types):
            wanted = " or ".join(_JSON_NAMES.get(t, t.__name__) for t in types)
            raise CheckpointError(
                f"{where} has {key!r} = {_json_type(meta[key])}, expected {wanted}"
            )
    return meta


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, Any]
) -> Path:
    """Write ``tensors`` and JSON ``metadata`` to ``path`` (``.safetensors``) atomically.

    A ``.json`` file with the same stem gets a readable copy of the metadata.

    Raises:
        OutputPathError: ``path`` or its ``.json`` companion is a folder (before any write).
    """
    path = Path(path)
    check_output_file(path, name="checkpoint")
    check_output_file(path.with_suffix(".json"), name="checkpoint metadata")
    meta = {"format_version": FORMAT_VERSION, **to_jsonable(metadata)}
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    data = st_save(flat, metadata={_META_KEY: json.dumps(meta)})
    atomic_write(path, lambda handle: handle.write(data))
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def load_checkpoint(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    expected_kind: str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(tensors, metadata)``.

    The metadata are checked by :func:`validate_metadata` before the tensors are moved or
    returned.

    Raises:
        CheckpointError: the file is missing, a folder, truncated, not an nndl checkpoint, or
            its metadata do not fit their schema (or ``expected_kind``).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder, not a .safetensors file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {exc.strerror}") from None
    try:
        tensors = st_load(raw)
        from safetensors import safe_open  # only for the metadata header

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        metadata = json.loads(header[_META_KEY])
    except Exception as exc:  # safetensors raises several types for a bad file
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not an nndl checkpoint ({exc})"
        ) from None
    metadata = validate_metadata(metadata, path=path, expected_kind=expected_kind)
    return {k: v.to(device) for k, v in tensors.items()}, metadata


# -- one scheme for every model ----------------------------------------------------------------
def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    kind: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor] | None = None,
    **extra: Any,
) -> Path:
    """Write a model as safetensors + JSON metadata ``{kind, version, config, **extra}``.

    Args:
        model: anything with ``state_dict()`` (an ``nn.Module``, or
            :class:`~nndl.generative.GaussianMixtureEM`); ignored when ``tensors`` is given.
        path: the ``.safetensors`` file (a ``.json`` copy of the metadata goes beside it).
        kind: the model's public class name, e.g. ``"nndl.generative.VAE"``; :func:`load_model`
            rebuilds it as ``kind(**config)``.
        config: the constructor arguments (JSON-able).
        tensors: the tensors to store instead of ``model.state_dict()``.
        **extra: further JSON metadata (e.g. the epochs a classifier was trained for).

    Raises:
        ValidationError: ``kind`` is empty or ``config`` is not a mapping.
        OutputPathError: ``path`` is a folder (before any write).
    """
    from .._validation import ValidationError

    if not isinstance(kind, str) or not kind:
        raise ValidationError(f"kind must be a non-empty string, got {kind!r}")
    if not isinstance(config, Mapping):
        raise ValidationError(f"config must be a mapping, got {type(config).__name__}")
    reserved = {"kind", "version", "config", "format_version"} & set(extra)
    if reserved:
        raise ValidationError(f"extra metadata may not set {', '.join(sorted(reserved))}")
    state = dict(model.state_dict() if tensors is None else tensors)
    named = {f"{_MODEL_PREFIX}{k}": v for k, v in state.items()}
    meta = {"kind": kind, "version": MODEL_VERSION, "config": dict(config), **extra}
    return save_checkpoint(path, named, meta)


def _model_class(kind: str, path: Path) -> Callable[..., Any]:
    """The class a model ``kind`` names: ``"nndl.generative.VAE"`` → ``nndl.generative.VAE``.

    Only names inside the ``nndl`` package are looked up, so a checkpoint cannot make nndl
    import arbitrary code.
    """
    module_name, _, attr = kind.rpartition(".")
    if not module_name.startswith("nndl") or not attr:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds kind {kind!r}, which names no nndl model; pass build="
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds kind {kind!r}, which this nndl does not define"
        ) from None
    return cls


def load_model(
    path: str | os.PathLike[str],
    expected_kind: str,
    *,
    device: str | torch.device = "cpu",
    build: Callable[..., Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Rebuild a model written by :func:`save_model`: ``(model, metadata)``.

    The metadata are validated (kind = ``expected_kind``, a readable version, ``config`` an
    object) before any model is built; then ``build(**config)`` (default: the class ``kind``
    names) makes the model and ``load_state_dict`` fills it, strictly.

    Args:
        path: the ``.safetensors`` file.
        expected_kind: the kind the caller needs, e.g. ``"nndl.generative.VAE"``.
        device: where the tensors (and an ``nn.Module``) go.
        build: the constructor to call with the config (default: the class named by the kind).

    Raises:
        CheckpointError: missing/corrupt file, another kind, bad metadata, or weights and
            config that do not fit each other; the message names the file.
    """
    path = Path(path)
    tensors, meta = load_checkpoint(path, device=device, expected_kind=expected_kind)
    factory = build if build is not None else _model_class(expected_kind, path)
    state = {k[len(_MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_MODEL_PREFIX)}
    try:
        model = factory(**meta["config"])
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit its {expected_kind} config: {exc}"
        ) from None
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    return model, meta


def pack_optimizer_state(
    optimizer: torch.optim.Optimizer, prefix: str = "optim."
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors and a JSON-able remainder."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        plain_state[str(pid)] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}state.{pid}.{name}"] = value
            else:
                plain_state[str(pid)][name] = value
    return tensors, {"param_groups": state["param_groups"], "state": plain_state}


def unpack_optimizer_state(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "optim."
) -> dict[str, Any]:
    """The inverse of :func:`pack_optimizer_state`: a dict for ``optimizer.load_state_dict``.

    Raises:
        CheckpointError: ``meta`` is not the object :func:`pack_optimizer_state` wrote.
    """
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("state"), dict)
        or not isinstance(meta.get("param_groups"), list)
    ):
        raise CheckpointError(
            "optimizer metadata must be an object with 'state' (object) and 'param_groups' "
            f"(array), got {_json_type(meta)}"
        )
    state: dict[int, dict[str, Any]] = {
        int(pid): dict(entries) for pid, entries in meta["state"].items()
    }
    for key, value in tensors.items():
        if key.startswith(prefix + "state."):
            pid, name = key[len(prefix) + 6 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}
