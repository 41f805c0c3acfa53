r"""Multi-class strategies: which discriminants are trained on what, and how they vote.

With :math:`C` classes (indices :math:`0..C-1`, the order of ``classes_``):

* two classes (any strategy): one discriminant :math:`f`, class 1 labelled :math:`+1` and
  class 0 labelled :math:`-1`; predict class 1 iff :math:`f(x) > 0`;
* ``"ovr"``: :math:`C` discriminants, :math:`f_c` separates class :math:`c` (+1) from all the
  others (−1);
* ``"ovo"``: :math:`C(C-1)/2` discriminants, one per pair :math:`i < j`, trained on the samples
  of classes :math:`i` (−1) and :math:`j` (+1) only; :math:`f_{ij}(x) > 0` is a vote for
  :math:`j`, otherwise for :math:`i`;
* ``"argmax"``: :math:`C` discriminants trained jointly by a multi-class loss; predict
  :math:`\arg\max_c f_c(x)`.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

__all__ = ["STRATEGIES", "build_targets", "ovo_decision", "ovo_votes", "pair_matrix"]

#: Strategy names accepted by :class:`~nndl.linear.LinearClassifier`.
STRATEGIES: tuple[str, ...] = ("ovr", "ovo", "argmax")


def pair_matrix(n_classes: int) -> np.ndarray:
    """The pairs :math:`(i, j)`, :math:`i < j`, in lexicographic order: ``int64[C(C-1)/2, 2]``."""
    return np.array(list(combinations(range(n_classes), 2)), dtype=np.int64).reshape(-1, 2)


def build_targets(
    strategy: str, y: torch.Tensor, n_classes: int
) -> tuple[int, torch.Tensor, torch.Tensor | None, np.ndarray | None]:
    """Targets and sample weights of the sub-problems (see :mod:`._objective`).

    Args:
        strategy: one of :data:`STRATEGIES`.
        y: class indices, ``Tensor[N]`` (int64, on the fitting device).
        n_classes: ``C`` (≥ 2).

    Returns:
        ``(K, targets, weights, pairs)``: margin form gives ``targets`` ±1/0 ``Tensor[K, N]``
        and ``weights`` ``Tensor[K, N]`` or ``Tensor[K, 1]``; the joint form (``"argmax"``,
        C > 2) gives ``targets = y`` and ``weights = None``. ``pairs`` is ``int64[K, 2]`` for
        the binary and one-vs-one cases, else None. Tensors are float64 and are cast by the
        caller.
    """
    n = y.shape[0]
    f64, dev = torch.float64, y.device
    if n_classes == 2:
        targets = (2 * y - 1).to(dtype=f64, device=dev)[None]
        return 1, targets, torch.full((1, 1), 1.0 / n, dtype=f64, device=dev), pair_matrix(2)
    if strategy == "ovr":
        targets = torch.full((n_classes, n), -1.0, dtype=f64, device=dev)
        targets.scatter_(0, y[None], 1.0)
        weights = torch.full((n_classes, 1), 1.0 / n, dtype=f64, device=dev)
        return n_classes, targets, weights, None
    if strategy == "ovo":
        pairs = pair_matrix(n_classes)
        first = torch.as_tensor(pairs[:, :1], device=y.device)
        second = torch.as_tensor(pairs[:, 1:], device=y.device)
        targets = (y[None] == second).to(dtype=f64, device=dev) - (y[None] == first).to(
            dtype=f64, device=dev
        )
        counts = targets.abs().sum(dim=1, keepdim=True)
        return len(pairs), targets, targets.abs() / counts, pairs
    return n_classes, y, None, None


def ovo_votes(F: np.ndarray, pairs: np.ndarray, n_classes: int) -> np.ndarray:
    """Votes per class: ``F`` (N, K) pairwise discriminants → ``int64[N, C]``."""
    first = np.eye(n_classes, dtype=np.int64)[pairs[:, 0]]  # (K, C)
    second = np.eye(n_classes, dtype=np.int64)[pairs[:, 1]]
    positive = (F > 0).astype(np.int64)
    return (1 - positive) @ first + positive @ second


def ovo_decision(F: np.ndarray, pairs: np.ndarray, n_classes: int) -> np.ndarray:
    r"""One-vs-one class scores: votes plus a tie-breaking confidence in :math:`(-1/3, 1/3)`.

    The score of class :math:`c` is :math:`v_c + s_c / (3(|s_c| + 1))`, where :math:`v_c` is its
    number of votes and :math:`s_c` its summed confidence (:math:`+f_{ij}` for :math:`c = j`,
    :math:`-f_{ij}` for :math:`c = i`); the fraction never reaches 1/3, so its argmax is a class
    with the most votes and, among tied classes, the one with the highest summed confidence
    (scikit-learn's ``OneVsOneClassifier`` rule). An exact tie left after that goes to the
    lowest class index.

    Args:
        F: pairwise discriminants, ``float[N, K]``.
        pairs: ``int64[K, 2]`` from :func:`pair_matrix`.
        n_classes: ``C``.

    Returns:
        ``float[N, C]``.
    """
    eye = np.eye(n_classes, dtype=F.dtype)
    votes = ovo_votes(F, pairs, n_classes).astype(F.dtype)
    confidence = F @ (eye[pairs[:, 1]] - eye[pairs[:, 0]])
    return votes + confidence / (3.0 * (np.abs(confidence) + 1.0))
