"""What the generative models share: saving as weights + constructor arguments, and loading.

A model is written by :func:`nndl.train.save_model` as safetensors + JSON metadata
``{kind, version, config}`` and rebuilt by :func:`nndl.train.load_model` as
``cls(**config)`` with its weights loaded strictly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..train import load_model, save_model

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ConfigModel", "RunModel"]


class ConfigModel:
    """Mixin for an ``nn.Module`` whose :attr:`config` (its constructor arguments) rebuilds it.

    Subclasses set :attr:`checkpoint_kind` and define the ``config`` property.
    """

    #: The kind written to the metadata, e.g. ``"nndl.generative.VAE"``.
    checkpoint_kind: ClassVar[str]

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able: ``type(m)(**m.config)`` rebuilds ``m``."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str], **metadata: Any) -> Path:
        """Write the weights and :attr:`config` (plus ``metadata``) as safetensors + JSON.

        Raises:
            OutputPathError: ``path`` is a folder (before any write).
        """
        return save_model(self, path, kind=self.checkpoint_kind, config=self.config, **metadata)

    @classmethod
    def _load(
        cls, path: str | os.PathLike[str], device: str | torch.device
    ) -> tuple[Self, dict[str, Any]]:
        """``(model, metadata)`` of a file written by :meth:`save` (CheckpointError if not)."""
        model, meta = load_model(path, cls.checkpoint_kind, device=device, build=cls)
        return model, meta


class RunModel(ConfigModel):
    """A :class:`ConfigModel` that a training run keeps in its folder as :attr:`model_file`."""

    #: The model's file name inside a run or checkpoint folder.
    model_file: ClassVar[str]

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> Self:
        """Rebuild a model written by :meth:`save` (also the one its training function keeps
        beside every trainer checkpoint).

        Args:
            path: the ``.safetensors`` file, or a folder holding :attr:`model_file`.
            device: where to put the model.

        Raises:
            CheckpointError: the file is missing, corrupt, not a checkpoint of this kind, or its
                weights do not fit its config.
        """
        path = Path(path)
        if path.is_dir():
            path = path / cls.model_file
        return cls._load(path, device)[0]
