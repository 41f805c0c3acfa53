r"""Train and test scores of stacked classifiers, each copy trained on its own data set.

When every copy s of a :class:`~nndl.train.StackedModels` is trained on its own training set
(:func:`~nndl.train.fit_stacked` with x of shape (S, N, \*)), its fit is measured on that set and
its generalisation on a test set shared by all copies: per copy, the share of
:math:`\arg\max_k z_{nk} = y_n` and the mean cross-entropy
:math:`\frac1N \sum_n -\log \mathrm{softmax}(z_n)_{y_n}`.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .._validation import ValidationError, check_shape
from .stacked import StackedModels, stacked_accuracy, stacked_losses

__all__ = ["own_data_scores"]


@torch.no_grad()
def own_data_scores(
    stacked: StackedModels,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
) -> dict[str, list[float]]:
    """Each copy's accuracy and mean cross-entropy on its own training set and on a shared test
    set, in eval mode (the copies stay in eval mode afterwards).

    Args:
        stacked: S classifiers (logits (S, N, K)).
        x_train: Tensor[S, N, \\*], copy s's training inputs in ``x_train[s]``.
        y_train: Tensor[S, N] class indices.
        x_test: Tensor[M, \\*] shared test inputs.
        y_test: Tensor[M] class indices.

    Returns:
        ``{"train_accuracy", "train_loss", "test_accuracy", "test_loss"}``, each S floats.

    Raises:
        DTypeError: an argument is not a tensor.
        ShapeError: ``x_train`` does not hold S data sets, or the labels do not match the
            inputs.
        ValidationError: ``stacked`` is not a :class:`StackedModels`.

    Example:
        >>> from nndl.nn import mlp
        >>> nets = StackedModels.from_factory(lambda s: mlp([4, 3]), [0, 1])
        >>> scores = own_data_scores(nets, torch.zeros(2, 5, 4), torch.zeros(2, 5).long(),
        ...                          torch.zeros(3, 4), torch.zeros(3).long())
        >>> sorted(scores), len(scores["train_loss"])
        (['test_accuracy', 'test_loss', 'train_accuracy', 'train_loss'], 2)
    """
    if not isinstance(stacked, StackedModels):
        raise ValidationError(f"stacked must be a StackedModels, got {type(stacked).__name__}")
    sizes = check_shape(x_train, "S N *", name="x_train", sizes={"S": stacked.n_models})
    check_shape(y_train, "S N", name="y_train", sizes=sizes)
    check_shape(y_test, "M", name="y_test", sizes=check_shape(x_test, "M *", name="x_test"))
    logits = stacked.eval()(x_train)  # (S, N, K)
    ce = F.cross_entropy(logits.flatten(0, 1), y_train.flatten(), reduction="none")
    return {
        "train_accuracy": (logits.argmax(-1) == y_train).float().mean(1).tolist(),
        "train_loss": ce.view_as(y_train).mean(1).tolist(),
        "test_accuracy": stacked_accuracy(stacked, x_test, y_test).tolist(),
        "test_loss": stacked_losses(stacked, x_test, y_test).tolist(),
    }
