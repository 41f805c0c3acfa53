"""Retraining PWCNetLite with a recipe: the recipe's data, reproducible, checked before work."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nndl._validation import DTypeError, ValidationError
from nndl.flow import PWC_RECIPE, PWCNetLite, retrain_pwc

TINY = dataclasses.replace(
    PWC_RECIPE, pairs=4, val_pairs=2, size=32, max_flow=4.0, epochs=2, batch_size=2, seed=3
)


def _same(a: PWCNetLite, b: PWCNetLite) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_retrain_follows_the_recipe_and_is_reproducible(tmp_path):
    model, history = retrain_pwc(TINY, pairs=2, checkpoint_dir=tmp_path, progress=False)
    assert isinstance(model, PWCNetLite) and len(history) == TINY.epochs
    assert all(math.isfinite(h["val_epe"]) and math.isfinite(h["loss"]) for h in history)
    assert any(tmp_path.iterdir())  # the trainer's checkpoints
    again, repeat = retrain_pwc(TINY, pairs=2, progress=False)
    assert _same(model, again) and [h["val_epe"] for h in repeat] == [h["val_epe"] for h in history]
    more, _ = retrain_pwc(TINY, progress=False)  # all 4 pairs: other batches, other weights
    assert not _same(model, more)
    _, short = retrain_pwc(TINY, pairs=2, epochs=1, progress=False)
    assert len(short) == 1


def test_retrain_checks_before_training():
    with pytest.raises(ValidationError, match="pairs"):
        retrain_pwc(TINY, pairs=0)
    with pytest.raises(ValidationError, match="epochs"):
        retrain_pwc(TINY, epochs=0)
    with pytest.raises(DTypeError, match="recipe"):
        retrain_pwc({"epochs": 1})  # type: ignore[arg-type]
