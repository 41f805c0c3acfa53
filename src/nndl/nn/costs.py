r"""Nielsen's cross-entropy cost for a layer of sigmoid outputs (claims G1, G2).

Nielsen (chapter 3) pairs sigmoid output units with the cross-entropy summed over the outputs
and averaged over the examples,

.. math:: C = -\frac1B \sum_x \sum_{j=1}^{K} \bigl[y_j \ln a_j + (1 - y_j) \ln(1 - a_j)\bigr],
          \qquad a_j = \sigma(o_j),

whose gradient with respect to the logits is :math:`(a - y)/B`: no :math:`\sigma'` factor slows
the output layer down. :func:`sigmoid_cross_entropy` computes it from logits (numerically stable)
for one net or for S stacked copies at once, one cost per copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validation import DTypeError, ShapeError

__all__ = ["sigmoid_cross_entropy"]


def sigmoid_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Nielsen's cross-entropy of sigmoid outputs: :math:`C` per leading index.

    Args:
        logits: Tensor[\*, B, K] output-layer pre-activations :math:`o`, e.g. (S, B, K) for S
            stacked copies or (B, K) for one net.
        target: Tensor[B, K] (shared by the copies) or Tensor[\*, B, K], targets in [0, 1]
            (one-hot class labels).

    Returns:
        Tensor[\*]: :math:`C` of each copy (a 0-d tensor for logits (B, K)); usable as the
        ``loss`` of :func:`nndl.train.fit_stacked`.

    Raises:
        DTypeError: ``logits`` or ``target`` is not a floating tensor.
        ShapeError: ``logits`` has fewer than 2 dimensions or ``target`` does not broadcast.

    Example:
        >>> sigmoid_cross_entropy(torch.zeros(3, 2, 4), torch.zeros(2, 4)).shape
        torch.Size([3])
    """
    for name, t in (("logits", logits), ("target", target)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise DTypeError(f"{name} must be a floating torch.Tensor, got {t!r:.60}")
    if logits.dim() < 2:
        raise ShapeError(
            f"logits must have shape (*, B, K), got {tuple(logits.shape)}",
            ("*", "B", "K"),
            tuple(logits.shape),
        )
    try:
        expanded = target.expand_as(logits)
    except RuntimeError as err:
        raise ShapeError(
            f"target must broadcast to logits {tuple(logits.shape)}, got {tuple(target.shape)}",
            tuple(logits.shape),
            tuple(target.shape),
        ) from err
    bce = F.binary_cross_entropy_with_logits(logits, expanded, reduction="none")
    return bce.sum(dim=-1).mean(dim=-1)
