r"""``LinearClassifier``: linear discriminants as a scikit-learn estimator trained with PyTorch.

A linear discriminant is :math:`f(x; w) = w^\top x + b`; a classifier combines one or more of
them with a decision function :math:`g`. For two classes labelled :math:`\pm 1` there is one
discriminant and :math:`g(x) = +1 \iff f(x) > 0`: the boundary :math:`f = 0` is a hyperplane.
For :math:`C > 2` classes the ``strategy`` decides how many discriminants are trained and how
they decide (see :mod:`nndl.linear._strategies`), and the ``loss`` what each minimises (see
:mod:`nndl.linear._losses`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.special
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import ValidationError
from ._losses import LOSSES
from ._objective import Objective
from ._params import Instance, InvalidParameterError, Number, Options, validate_params
from ._solvers import SOLVERS, Problem, lbfgs, sgd
from ._strategies import STRATEGIES, build_targets, ovo_decision

__all__ = ["DTYPES", "LinearClassifier"]

#: Floating-point types a fit can run in.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def _is_device(value: Any) -> bool:
    if isinstance(value, torch.device):
        return True
    if not isinstance(value, str):
        return False
    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        return False
    return True


def _check_device(value: str | torch.device) -> torch.device:
    """The torch device for ``value``, or a :class:`ValidationError` if it cannot compute here."""
    device = torch.device(value)
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None)
    if device.type not in ("cuda", "mps", "xpu") or backend is None:
        raise ValidationError(
            f"device must be 'cpu', 'cuda', 'mps' or 'xpu' (with an index), got {value!r}"
        )
    if not backend.is_available():
        raise ValidationError(
            f"device={value!r} was requested but torch.{device.type}.is_available() is False"
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise ValidationError(f"device={value!r} does not exist: {count} {device.type} device(s)")
    return device


def _is_random_state(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, int | np.integer) and not isinstance(value, bool))
        or isinstance(value, np.random.RandomState)
    )


def _to_host(a: Any) -> Any:
    """Torch tensors (any device) become NumPy arrays; anything else is passed through."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return a


def _as_tensor(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A NumPy array on ``device``/``dtype`` without copying when it can be avoided."""
    if not a.flags.writeable:  # torch.from_numpy warns on read-only memory (memmaps)
        a = a.copy()
    return torch.from_numpy(a).to(device=device, dtype=dtype)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (``np.str_('a')`` → ``'a'``)."""
    return value.item() if isinstance(value, np.generic) else value


def _has_probabilities(estimator: LinearClassifier) -> bool:
    return estimator.loss == "logistic" and estimator.strategy != "ovo"


class LinearClassifier(ClassifierMixin, BaseEstimator):
    r"""Linear classifier: binary, one-vs-rest, one-vs-one or argmax, with five losses.

    Minimises, over the ``K`` discriminants :math:`f_k(x) = w_k^\top x + b_k`, the mean loss of
    each sub-problem plus :math:`\tfrac{\alpha}{2} \sum_k \lVert w_k \rVert^2` (intercepts are not
    penalised). With :math:`N` training samples, :math:`\alpha = 1/(C_{\text{sklearn}} N)` gives
    the objective of scikit-learn's ``LogisticRegression(C=...)`` and ``LinearSVC(C=...)``.

    Two classes (any ``strategy``) use one discriminant, with ``classes_[1]`` as :math:`+1` and
    ``classes_[0]`` as :math:`-1`, and predict ``classes_[1]`` iff :math:`f(x) > 0`. For
    :math:`C > 2` classes:

    * ``"ovr"`` trains :math:`C` discriminants (class *c* against the rest) and predicts
      :math:`\arg\max_c f_c`, which also settles points where no :math:`f_c` or several are
      positive (those stay "ambiguous" for :func:`~nndl.linear.ambiguity`);
    * ``"ovo"`` trains :math:`C(C-1)/2` discriminants, one per pair :math:`i < j` on that pair's
      samples, and predicts by majority vote; **tie-break**: among classes with the most votes,
      the highest summed confidence :math:`\sum \pm f_{ij}` wins (scikit-learn's rule), then the
      lowest class index;
    * ``"argmax"`` trains :math:`C` discriminants jointly (softmax for ``logistic``,
      Crammer–Singer for ``hinge``/``squared_hinge``, the multi-class perceptron for
      ``perceptron``) and predicts :math:`\arg\max_c f_c`.

    Args:
        loss: ``"logistic"``, ``"hinge"``, ``"squared_hinge"``, ``"perceptron"`` or
            ``"squared"`` (least squares on ±1 targets).
        strategy: ``"ovr"``, ``"ovo"`` or ``"argmax"``.
        alpha: L2 strength :math:`\alpha \ge 0` (on the mean loss).
        fit_intercept: learn the :math:`b_k` (else they stay 0).
        solver: ``"lbfgs"`` (full batch, SciPy's L-BFGS-B on the PyTorch objective), ``"sgd"``
            (mini-batch, ``torch.optim.SGD``) or ``"auto"``: ``"sgd"`` for the perceptron,
            ``"lbfgs"`` otherwise. The perceptron cannot use L-BFGS: its loss is 0 at
            :math:`w = 0`, the global minimum, so a descent method never leaves the start.
        max_iter: L-BFGS iterations, or SGD epochs.
        tol: L-BFGS: stop when the largest gradient component is below ``tol``; SGD: stop after
            ``n_iter_no_change`` epochs without an improvement of the mean loss by ``tol``.
        batch_size: SGD mini-batch size.
        learning_rate: SGD step size (constant).
        n_iter_no_change: SGD patience in epochs.
        random_state: seeds the SGD shuffles (None, an int or a ``numpy.random.RandomState``);
            L-BFGS from :math:`w = 0` is deterministic.
        device: where the fit runs (``"cpu"``, ``"cuda"``, …); predictions run there too.
        dtype: ``"float64"`` (default, like scikit-learn) or ``"float32"`` (faster, less exact).

    Attributes:
        classes_: the class labels, ``ndarray[C]`` (any labels, strings included).
        coef_: the :math:`w_k`, ``ndarray[K, D]`` (``K = n_discriminants_``).
        intercept_: the :math:`b_k`, ``ndarray[K]``.
        n_discriminants_: ``K``: 1 for two classes, else :math:`C`, :math:`C(C-1)/2` or
            :math:`C` for ``ovr``, ``ovo`` and ``argmax``.
        pairs_: ``int64[K, 2]`` indices into ``classes_`` of the pair each discriminant
            separates (:math:`f > 0` votes for the second) for two classes and ``ovo``; else
            None.
        n_iter_: iterations (L-BFGS) or epochs (SGD) run.
        n_features_in_: number of features seen in ``fit``.
        feature_names_in_: feature names, when ``X`` had string column names.

    Raises:
        InvalidParameterError: from ``fit``, for a parameter out of its range or an unknown
            name (a ``ValueError``), worded like scikit-learn's.

    Input: ``X`` is array-like ``(N, D)`` (NumPy, pandas, lists, or a ``torch.Tensor`` on any
    device); sparse matrices are rejected with a ``TypeError`` (densify with ``.toarray()``).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = LinearClassifier(loss="logistic", strategy="ovo").fit(X, y)
        >>> clf.n_discriminants_, clf.coef_.shape, round(clf.score(X, y), 2)
        (3, (3, 4), 0.98)
    """

    def __init__(
        self,
        loss: str = "logistic",
        strategy: str = "argmax",
        *,
        alpha: float = 1e-4,
        fit_intercept: bool = True,
        solver: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-4,
        batch_size: int = 32,
        learning_rate: float = 0.1,
        n_iter_no_change: int = 5,
        random_state: int | np.random.RandomState | None = None,
        device: str | torch.device = "cpu",
        dtype: str = "float64",
    ) -> None:
        self.loss = loss
        self.strategy = strategy
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    #: What each parameter accepts (checked at the start of ``fit``).
    _parameter_specs: dict[str, tuple[Any, ...]] = {  # noqa: RUF012 - read-only table
        "loss": (Options(LOSSES),),
        "strategy": (Options(STRATEGIES),),
        "alpha": (Number(float, 0.0),),
        "fit_intercept": (Instance(lambda v: isinstance(v, bool | np.bool_), "a bool"),),
        "solver": (Options(SOLVERS),),
        "max_iter": (Number(int, 1),),
        "tol": (Number(float, 0.0),),
        "batch_size": (Number(int, 1),),
        "learning_rate": (Number(float, 0.0, closed="right"),),
        "n_iter_no_change": (Number(int, 1),),
        "random_state": (Instance(_is_random_state, "None, an int or a numpy.random.RandomState"),),
        "device": (Instance(_is_device, "a torch device name such as 'cpu' or 'cuda:0'"),),
        "dtype": (Options(tuple(DTYPES)),),
    }

    # ----------------------------------------------------------------------------- fitting
    def _resolve_params(self) -> tuple[str, torch.device, torch.dtype]:
        """Validate every parameter (before any work) and resolve solver/device/dtype."""
        validate_params(type(self).__name__, self.get_params(deep=False), self._parameter_specs)
        solver = self.solver
        if solver == "auto":
            solver = "sgd" if self.loss == "perceptron" else "lbfgs"
        if solver == "lbfgs" and self.loss == "perceptron":
            raise InvalidParameterError(
                "The 'solver' parameter of LinearClassifier must be 'sgd' or 'auto' when "
                "loss='perceptron': the perceptron loss is 0 at w = 0, its global minimum, so "
                "L-BFGS would never leave its starting point. Got 'lbfgs' instead."
            )
        return solver, _check_device(self.device), DTYPES[self.dtype]

    def fit(self, X: Any, y: Any) -> LinearClassifier:
        """Fit the discriminants.

        Args:
            X: training features, array-like ``(N, D)``; dense only.
            y: labels, array-like ``(N,)``; at least two distinct classes, any hashable labels.

        Returns:
            self.

        Raises:
            InvalidParameterError: a constructor parameter is out of range or unknown.
            ValueError: NaN/inf or a wrong shape in ``X``, non-class labels in ``y``, a single
                class, ``X`` and ``y`` of different lengths.
            TypeError: sparse ``X``.
        """
        solver, device, dtype = self._resolve_params()
        X, y = validate_data(
            self, _to_host(X), _to_host(y), accept_sparse=False, dtype=[np.float64, np.float32]
        )
        check_classification_targets(y)
        encoder = LabelEncoder()
        y_idx = encoder.fit_transform(y)
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValidationError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {_plain(classes[0])!r}"
            )
        n_classes = len(classes)
        y_t = torch.as_tensor(y_idx, dtype=torch.int64, device=device)
        n_out, targets, weights, pairs = build_targets(self.strategy, y_t, n_classes)
        Xt = _as_tensor(np.ascontiguousarray(X.T), device, dtype)  # (D, N)
        obj = Objective(
            Xt=Xt,
            loss=self.loss,
            alpha=float(self.alpha),
            targets=targets if weights is None else targets.to(dtype),
            weights=None if weights is None else weights.to(dtype),
            n_outputs=n_out,
        )
        W0 = torch.zeros(n_out, X.shape[1], dtype=dtype, device=device)
        b0 = torch.zeros(n_out, dtype=dtype, device=device)
        problem = Problem(obj, W0, b0, bool(self.fit_intercept), self.max_iter, self.tol)
        if solver == "lbfgs":
            result = lbfgs(problem)
        else:
            rng = check_random_state(self.random_state)
            generator = torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
            result = sgd(
                problem,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                n_iter_no_change=self.n_iter_no_change,
                generator=generator,
            )
        if not result.converged:
            unit = "iterations" if solver == "lbfgs" else "epochs"
            warnings.warn(
                f"{type(self).__name__} (solver={solver!r}) did not converge in "
                f"max_iter={self.max_iter} {unit}; increase max_iter, loosen tol, or "
                "standardise the features.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.classes_ = classes
        self.coef_ = result.W.cpu().numpy()
        self.intercept_ = result.b.cpu().numpy()
        self.n_discriminants_ = n_out
        self.pairs_ = pairs
        self.n_iter_ = result.n_iter
        return self

    # ---------------------------------------------------------------------------- predicting
    def discriminants(self, X: Any) -> np.ndarray:
        r"""The raw discriminants :math:`f_k(x) = w_k^\top x + b_k` of every sample.

        Args:
            X: array-like ``(N, D)``.

        Returns:
            ``ndarray[N, K]`` with ``K = n_discriminants_`` (column *k* of ``ovo`` is the pair
            ``pairs_[k]``).
        """
        check_is_fitted(self)
        X = validate_data(
            self, _to_host(X), accept_sparse=False, reset=False, dtype=[np.float64, np.float32]
        )
        device, dtype = _check_device(self.device), DTYPES[self.dtype]
        Xd = _as_tensor(X, device, dtype)
        W = torch.from_numpy(self.coef_).to(device=device, dtype=dtype)
        b = torch.from_numpy(self.intercept_).to(device=device, dtype=dtype)
        return torch.addmm(b, Xd, W.T).cpu().numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        """Confidence scores: their sign (two classes) or argmax (more) is the prediction.

        Args:
            X: array-like ``(N, D)``.

        Returns:
            Two classes: ``f(x)``, ``ndarray[N]``. Otherwise ``ndarray[N, C]``: the :math:`f_c`
            for ``ovr``/``argmax``; for ``ovo`` the votes plus the tie-breaking confidence of
            :func:`nndl.linear._strategies.ovo_decision`.
        """
        F = self.discriminants(X)
        if len(self.classes_) == 2:
            return F[:, 0]
        if self.strategy == "ovo" and self.pairs_ is not None:
            return ovo_decision(F, self.pairs_, len(self.classes_))
        return F

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels, ``ndarray[N]`` of ``classes_``'s type."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]

    @available_if(_has_probabilities)
    def predict_proba(self, X: Any) -> np.ndarray:
        r"""Class probabilities (``loss="logistic"``, strategies ``argmax`` and ``ovr``).

        Two classes: :math:`(1 - \sigma(f), \sigma(f))`; ``argmax``: :math:`\mathrm{softmax}(f)`;
        ``ovr``: the :math:`\sigma(f_c)` normalised to sum to one (as scikit-learn's one-vs-rest
        logistic regression). ``ovo`` has no ``predict_proba``, like ``OneVsOneClassifier``.

        Returns:
            ``ndarray[N, C]``, rows sum to one.
        """
        F = self.discriminants(X)
        if len(self.classes_) == 2:
            p = scipy.special.expit(F[:, 0])
            return np.column_stack([1.0 - p, p])
        if self.strategy == "argmax":
            return scipy.special.softmax(F, axis=1)
        p = scipy.special.expit(F)
        return p / p.sum(axis=1, keepdims=True)

    @available_if(_has_probabilities)
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, ``ndarray[N, C]``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
