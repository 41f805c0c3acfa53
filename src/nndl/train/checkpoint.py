"""Checkpoints as safetensors + JSON: no pickle, so loading one never runs code.

One checkpoint is one ``.safetensors`` file holding named tensors and a JSON metadata string (so
the tensors and the metadata are replaced together, atomically), plus a ``.json`` copy of the
metadata beside it for people to read. Optimizer state is flattened into tensors
(``optim.state.<param index>.<name>``) and JSON (hyper-parameters, non-tensor state).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .._io import atomic_write, atomic_write_json, to_jsonable
from .._validation import NNDLError

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "pack_optimizer_state",
    "save_checkpoint",
    "unpack_optimizer_state",
]

_META_KEY = "nndl"
FORMAT_VERSION = 1


class CheckpointError(NNDLError, OSError):
    """A checkpoint that is missing, corrupt or does not fit the model; the message names it."""


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, Any]
) -> Path:
    """Write ``tensors`` and JSON ``metadata`` to ``path`` (``.safetensors``) atomically.

    A ``.json`` file with the same stem gets a readable copy of the metadata.
    """
    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, **to_jsonable(metadata)}
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    data = st_save(flat, metadata={_META_KEY: json.dumps(meta)})
    atomic_write(path, lambda handle: handle.write(data))
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(tensors, metadata)``.

    Raises:
        CheckpointError: the file is missing, truncated, or not an nndl checkpoint.
    """
    path = Path(path)
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
    return {k: v.to(device) for k, v in tensors.items()}, metadata


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
    """The inverse of :func:`pack_optimizer_state`: a dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {
        int(pid): dict(entries) for pid, entries in meta["state"].items()
    }
    for key, value in tensors.items():
        if key.startswith(prefix + "state."):
            pid, name = key[len(prefix) + 6 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}
