r"""The regularised training objective shared by every strategy, with its gradient.

For ``K`` discriminants :math:`f_k(x) = w_k^\top x + b_k` stacked as ``W`` (K, D) and ``b`` (K,)
the objective is

.. math::
    J(W, b) = \underbrace{\sum_{k} \sum_{i} s_{ki}\, \phi(y_{ki} f_k(x_i))}_{\text{margin form}}
    \quad\text{or}\quad
    \underbrace{\frac{1}{N} \sum_i \ell(f(x_i), y_i)}_{\text{joint form}}
    \; + \; \frac{\alpha}{2} \lVert W \rVert_F^2 ,

with the intercepts left unpenalised (as in scikit-learn's ``LogisticRegression``). In the
margin form :math:`y_{ki} \in \{-1, 0, +1\}` (0 = sample *i* takes no part in sub-problem *k*)
and :math:`s_{ki} = 1/N_k` on the :math:`N_k` samples of sub-problem *k*, so each sub-problem's
term is its own mean loss; the sub-problems share no parameter, so minimising their sum
minimises each one. The gradient is assembled from :math:`G = \partial J / \partial F` as
:math:`\partial J/\partial W = G X + \alpha W` and :math:`\partial J/\partial b = G \mathbf 1`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._losses import NONSMOOTH, joint_loss, margin_loss

__all__ = ["Objective"]


@dataclass
class Objective:
    """Data, targets and loss of one fit (tensors on the fitting device and dtype).

    Attributes:
        Xt: the features transposed, ``Tensor[D, N]`` (contiguous).
        loss: loss name.
        alpha: L2 strength.
        targets: margin form: ``Tensor[K, N]`` of ±1/0; joint form: class indices ``Tensor[N]``.
        weights: margin form only: ``s_ki``, ``Tensor[K, N]`` or ``Tensor[K, 1]``.
        n_outputs: ``K``, the number of discriminants.
        smoothing: width ``mu`` of the smooth surrogate of a hinge loss (0: the exact loss).
    """

    Xt: torch.Tensor
    loss: str
    alpha: float
    targets: torch.Tensor
    weights: torch.Tensor | None
    n_outputs: int
    smoothing: float = 0.0

    @property
    def n_samples(self) -> int:
        return self.Xt.shape[1]

    @property
    def joint(self) -> bool:
        return self.weights is None

    @property
    def nonsmooth(self) -> bool:
        """Whether the exact objective has kinks (a hinge loss; see ``_losses.NONSMOOTH``)."""
        return (self.loss, self.joint) in NONSMOOTH

    def take(self, order: torch.Tensor) -> Objective:
        """The same objective with its samples in the order ``order`` (``Tensor[N]``).

        SGD shuffles once per epoch with this and then reads mini-batches as column slices
        (views), instead of gathering every mini-batch.
        """
        weights = self.weights
        if weights is not None and weights.shape[1] != 1:
            weights = weights[:, order]
        return Objective(
            Xt=self.Xt[:, order],
            loss=self.loss,
            alpha=self.alpha,
            targets=self.targets[order] if self.joint else self.targets[:, order],
            weights=weights,
            n_outputs=self.n_outputs,
            smoothing=self.smoothing,
        )

    def value_and_grad(
        self,
        W: torch.Tensor,
        b: torch.Tensor,
        cols: slice | torch.Tensor | None = None,
        *,
        per_output: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``J`` and its gradient, on all samples or on the columns ``cols`` (a mini-batch).

        On a mini-batch the data term is rescaled by ``N / B`` so that it is an unbiased
        estimate of the full data term.

        Args:
            W: ``Tensor[K, D]``.
            b: ``Tensor[K]``.
            cols: optional sample indices (``Tensor[B]``) or a slice of them.
            per_output: return each sub-problem's own term of ``J`` (``Tensor[K]``; the margin
                form's terms are independent) instead of the sum; the joint form gives
                ``Tensor[1]``.

        Returns:
            ``(J, dJ/dW, dJ/db)`` as a 0-d tensor (or ``Tensor[K]``/``Tensor[1]``, see
            ``per_output``), ``Tensor[K, D]`` and ``Tensor[K]``.
        """
        Xt = self.Xt if cols is None else self.Xt[:, cols]
        scale = 1.0 if cols is None else self.n_samples / Xt.shape[1]  # N / B
        F = torch.addmm(b[:, None], W, Xt)  # (K, B): f_k(x_i) = w_k·x_i + b_k
        if self.joint:
            y = self.targets if cols is None else self.targets[cols]
            per_sample, G = joint_loss(self.loss, F, y, self.smoothing)
            s = scale / self.n_samples
            data = (per_sample.sum() * s).reshape(1)
            G.mul_(s)
        else:
            Y = self.targets if cols is None else self.targets[:, cols]
            S = self.weights
            if S is None:
                raise RuntimeError("margin-form objective without per-output weights")
            if cols is not None and S.shape[1] != 1:
                S = S[:, cols]
            S = S * scale
            phi, dphi = margin_loss(self.loss, Y * F, self.smoothing)
            data = (S * phi).sum(dim=1)
            G = S * Y * dphi  # ∂/∂F of s·φ(y f) = s·y·φ'(y f)
        penalty = 0.5 * self.alpha * W.square().sum(dim=1)
        value = data + (penalty if len(data) == len(penalty) else penalty.sum())
        if not per_output:
            value = value.sum()
        grad_W = torch.mm(G, Xt.T) + self.alpha * W
        return value, grad_W, G.sum(dim=1)
