"""Retrain :class:`~nndl.flow.PWCNetLite` from scratch with a recipe, as the shipped weights were.

:func:`retrain_pwc` is the whole procedure of :data:`~nndl.flow.PWC_RECIPE` in one call: the
recipe's training and validation pairs (:func:`~nndl.flow.pwc_training_data`), a fresh network
initialised under ``torch.manual_seed(recipe.seed)``, and :func:`~nndl.flow.train_pwc` (Adam,
cosine decay of the learning rate to 0, random flips and transposes, validation end-point error
after every epoch). With ``pairs`` it trains on the first ``pairs`` training pairs only, the
same pairs a full run starts with, and ``epochs`` shortens it, so a short check retraces the
beginning of the real recipe (the learning-rate schedule spans the epochs that are run).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .._validation import DTypeError, check_int
from .pwc import PWC_RECIPE, PWCNetLite, PWCRecipe, pwc_training_data, train_pwc

__all__ = ["retrain_pwc"]


def retrain_pwc(
    recipe: PWCRecipe = PWC_RECIPE,
    *,
    pairs: int | None = None,
    epochs: int | None = None,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> tuple[PWCNetLite, list[dict[str, Any]]]:
    """Train a fresh :class:`~nndl.flow.PWCNetLite` with ``recipe``.

    Args:
        recipe: the :class:`~nndl.flow.PWCRecipe` (data, epochs, batch size, lr, seed).
        pairs: train on the first ``min(pairs, recipe.pairs)`` training pairs (None: all).
        epochs: train this many epochs instead of ``recipe.epochs`` (None: the recipe's).
        device: where to train.
        checkpoint_dir: the trainer's checkpoint folder (one checkpoint per epoch), or None.
        resume: continue from the last good checkpoint in ``checkpoint_dir``.
        progress: show progress bars (None: the trainer's default).

    Returns:
        ``(model, history)``: the trained network (on ``device``) and one dict per epoch with
        ``loss`` and ``val_epe`` (mean end-point error on the recipe's validation pairs).

    Raises:
        DTypeError: ``recipe`` is not a :class:`~nndl.flow.PWCRecipe`.
        ValidationError: ``pairs`` or ``epochs`` < 1, or a setting :func:`~nndl.flow.train_pwc`
            refuses.
    """
    if not isinstance(recipe, PWCRecipe):
        raise DTypeError(f"recipe must be a PWCRecipe, got {type(recipe).__name__}")
    if pairs is not None:
        check_int(pairs, name="pairs", low=1)
    if epochs is not None:
        check_int(epochs, name="epochs", low=1)
    train, val = pwc_training_data(recipe)
    n = train.img1.shape[0] if pairs is None else min(pairs, train.img1.shape[0])
    torch.manual_seed(recipe.seed)
    model = PWCNetLite()
    history = train_pwc(
        model,
        (train.img1[:n], train.img2[:n], train.flow[:n]),
        epochs=recipe.epochs if epochs is None else epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        device=device,
        validation=(val.img1, val.img2, val.flow),
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    return model, history
