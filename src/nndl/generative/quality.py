r"""Sample quality measured on the features of a classifier: Fréchet distance, precision/recall.

A generative model that "samples new data similar to the real data" (claims V1, V4) is judged
here the way image GANs are judged, scaled down to the digits: a small classifier is trained on
the real training images, and its penultimate layer :math:`\phi(x) \in \mathbb{R}^F` embeds
real and generated images alike.

* **Fréchet distance** (Heusel et al. 2017) between Gaussians fitted to the two feature sets,

  .. math:: \mathrm{FD} = \lVert \mu_1 - \mu_2 \rVert^2
            + \operatorname{tr}\!\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big),

  the squared 2-Wasserstein distance between the two Gaussians. The trace of the matrix square
  root is computed as :math:`\sum_i \sqrt{\lambda_i}` over the eigenvalues of the symmetric
  positive semi-definite :math:`\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}` (same eigenvalues as
  :math:`\Sigma_1 \Sigma_2`), which stays real and finite for singular covariances, where
  ``scipy.linalg.sqrtm`` of the non-symmetric product can return complex noise.
* **Precision and recall of distributions** (Kynkäänniemi et al. 2019). The real manifold is
  the union of balls around each real feature vector, of radius the distance to its k-th
  nearest real neighbour; precision is the share of generated samples inside it. Recall swaps
  the roles: the share of real samples inside the generated manifold. Low precision means
  unrealistic samples; low recall means missing modes (mode collapse).
* **Class histogram**: the share of generated samples the classifier assigns to each class, and
  its total-variation distance to the histogram of real images.
* **Real-vs-real floor**: the same numbers for a second, disjoint set of real images of the
  same size. FD estimated from finite samples is biased upwards, so no model can be expected
  to beat the floor; a model is judged by how close it comes to it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import (
    ShapeError,
    ValidationError,
    check_choice,
    check_finite,
    check_in_range,
    check_int,
    check_same_shape,
    check_shape,
)
from ._common import ConfigModel

__all__ = [
    "FEATURE_ARCHS",
    "FeatureClassifier",
    "SampleQuality",
    "class_histogram",
    "evaluate_samples",
    "features",
    "frechet_distance",
    "frechet_distance_from_features",
    "gaussian_fit",
    "precision_recall",
    "real_floor",
    "total_variation",
    "train_feature_classifier",
]

FEATURE_ARCHS: tuple[str, ...] = ("mlp", "cnn")
_KIND = "nndl.generative.FeatureClassifier"


# ---------------------------------------------------------------------------------------------
# The feature classifier
# ---------------------------------------------------------------------------------------------
class FeatureClassifier(ConfigModel, nn.Module):
    """A classifier of images whose penultimate layer is the feature space for sample quality.

    Args:
        image_shape: (C, H, W) of the images.
        n_classes: K, the number of classes.
        arch: ``"mlp"`` (the image is flattened; hidden layers ``hidden``) or ``"cnn"``
            (``nndl.nn.cnn`` with conv ``channels``, max-pooling and a hidden layer
            ``hidden[-1]``).
        hidden: hidden widths; the last one is the feature dimension F.
        channels: conv channels for ``arch="cnn"``.

    Shape:
        - input: (N, C, H, W) or flattened (N, C·H·W).
        - output: logits (N, K); :meth:`features` gives (N, F).
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_classes: int,
        *,
        arch: str = "mlp",
        hidden: Sequence[int] = (128, 64),
        channels: Sequence[int] = (16, 32),
    ):
        super().__init__()
        from ..nn import cnn, mlp

        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValidationError(f"image_shape must be (C, H, W) > 0, got {tuple(image_shape)}")
        self.n_classes = check_int(n_classes, name="n_classes", low=2)
        self.arch = check_choice(arch, FEATURE_ARCHS, name="arch")
        self.hidden = tuple(check_int(h, name="hidden width", low=1) for h in hidden)
        self.channels = tuple(check_int(c, name="channel count", low=1) for c in channels)
        if not self.hidden:
            raise ValidationError("hidden must name at least one hidden layer (the features)")
        c, h, w = self.image_shape
        if self.arch == "mlp":
            self.net = mlp([c * h * w, *self.hidden, self.n_classes], activation="relu")
        else:
            if h != w:
                raise ValidationError(f"arch='cnn' needs square images, got H={h}, W={w}")
            self.net = cnn(
                c, self.n_classes, h, channels=self.channels, pool="max", hidden=self.hidden[-1]
            )

    checkpoint_kind = _KIND

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able: ``FeatureClassifier(**c.config)`` rebuilds it."""
        return {
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
            "arch": self.arch,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
        }

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> tuple[FeatureClassifier, dict[str, Any]]:
        """Rebuild a classifier written by :meth:`save`: ``(model in eval mode, metadata)``.

        Raises:
            CheckpointError: missing, corrupt, not a feature-classifier checkpoint, or weights
                that do not fit the config.
        """
        model, meta = cls._load(path, device)
        return model.eval(), meta

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        flat = math.prod(self.image_shape)
        if x.ndim == 2 and x.shape[1] == flat:
            x = x.reshape(-1, *self.image_shape)
        check_shape(x, ("N", *self.image_shape), name="images")
        return x.reshape(x.shape[0], -1) if self.arch == "mlp" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._prepare(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (N, F): every layer but the output layer."""
        return self.net[:-1](self._prepare(x))


def train_feature_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_classes: int | None = None,
    arch: str = "mlp",
    hidden: Sequence[int] = (128, 64),
    channels: Sequence[int] = (16, 32),
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> FeatureClassifier:
    """Train a :class:`FeatureClassifier` on real labelled images with :class:`nndl.train.Trainer`.

    Cross-entropy, Adam, ``epochs`` passes in a seeded order. The model is initialised under a
    forked RNG seeded with ``seed``, so the global RNG is left as it was.

    Args:
        images: Tensor[N, C, H, W] real training images (finite).
        labels: Tensor[N] int64 class labels in [0, K).
        n_classes: K (default ``labels.max() + 1``).
        arch, hidden, channels: see :class:`FeatureClassifier`.
        epochs, batch_size, lr, weight_decay, seed, device, progress: training settings.

    Returns:
        The trained classifier, in eval mode.

    Raises:
        ShapeError: images are not 4-D or labels do not match.
        ValidationError: non-finite images, fewer than two classes, bad settings.
    """
    from ..train import Trainer, supervised_loss

    check_shape(images, "N C H W", name="images")
    check_shape(labels, ("N",), name="labels", sizes={"N": images.shape[0]})
    check_finite(images, name="images")
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValidationError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    k = int(labels.max()) + 1 if n_classes is None else check_int(n_classes, name="n_classes")
    if int(labels.min()) < 0 or int(labels.max()) >= k:
        raise ValidationError(
            f"labels must lie in [0, {k}), got [{int(labels.min())}, {int(labels.max())}]"
        )
    check_int(epochs, name="epochs", low=1)
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(images.shape[1:], k, arch=arch, hidden=hidden, channels=channels)
    trainer = Trainer(
        model,
        lambda params: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
        supervised_loss(),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=device,
        progress=progress,
        description="feature classifier",
    )
    trainer.fit((images, labels.long()))
    return model.eval()


@torch.no_grad()
def features(model: FeatureClassifier, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Penultimate-layer features of ``x`` in eval mode, in batches.

    Args:
        model: a trained :class:`FeatureClassifier`.
        x: Tensor[N, C, H, W] (or flattened (N, C·H·W)) images, finite.

    Returns:
        Tensor[N, F] on the CPU, float64.
    """
    check_finite(x, name="x")
    check_int(batch_size, name="batch_size", low=1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [
        model.features(x[i : i + batch_size].to(device)).double().cpu()
        for i in range(0, x.shape[0], batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.hidden[-1], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------
def _as_float64(value: Any, name: str) -> torch.Tensor:
    """A float64 CPU tensor of any array-like, checked to be finite."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().to(torch.float64)
    else:
        t = torch.from_numpy(np.asarray(value, dtype=np.float64))
    check_finite(t, name=name)
    return t


def _fit(feats: Any) -> tuple[torch.Tensor, torch.Tensor]:
    t = _as_float64(feats, "features")
    if t.ndim != 2 or t.shape[0] < 2:
        raise ShapeError(
            f"features must have shape (N, F) with N >= 2, got {tuple(t.shape)}",
            ("N", "F"),
            tuple(t.shape),
        )
    return t.mean(dim=0), torch.atleast_2d(torch.cov(t.T))


def gaussian_fit(feats: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and (unbiased, ``N - 1``) covariance of features: :math:`(\mu, \Sigma)`.

    Args:
        feats: (N, F) with N ≥ 2.

    Returns:
        ``(mu (F,), sigma (F, F))`` as float64 arrays.
    """
    mu, sigma = _fit(feats)
    return mu.numpy(), sigma.numpy()


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (negative round-off eigenvalues → 0)."""
    vals, vecs = torch.linalg.eigh((sigma + sigma.T) / 2)
    return (vecs * vals.clamp_min(0.0).sqrt()) @ vecs.T


def _frechet(m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor) -> float:
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(eig.clamp_min(0.0).sqrt().sum())
    diff = m1 - m2
    value = float(diff @ diff + torch.trace(s1) + torch.trace(s2)) - 2.0 * tr_covmean
    return max(value, 0.0)


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    r"""Fréchet (squared 2-Wasserstein) distance between two Gaussians.

    For :math:`N(\mu_1, \Sigma_1)` and :math:`N(\mu_2, \Sigma_2)`:

    .. math:: \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2 \sum_i \sqrt{\lambda_i\!\left(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\right)}

    Computed in float64 with PyTorch's linear algebra (``torch.set_num_threads`` applies).

    Args:
        mu1, mu2: means (F,).
        sigma1, sigma2: symmetric positive semi-definite covariances (F, F).

    Returns:
        The distance, ≥ 0 (clipped at 0 against round-off).
    """
    m1, m2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    s1 = torch.atleast_2d(_as_float64(sigma1, "sigma1"))
    s2 = torch.atleast_2d(_as_float64(sigma2, "sigma2"))
    f = m1.shape[0] if m1.ndim == 1 else -1
    for name, value, shape in (("mu2", m2, (f,)), ("sigma1", s1, (f, f)), ("sigma2", s2, (f, f))):
        if m1.ndim != 1 or tuple(value.shape) != shape:
            raise ShapeError(
                f"{name} must have shape {shape} to match mu1 {tuple(m1.shape)}, "
                f"got {tuple(value.shape)}",
                shape,
                tuple(value.shape),
            )
    return _frechet(m1, s1, m2, s2)


def frechet_distance_from_features(
    feats1: torch.Tensor | np.ndarray, feats2: torch.Tensor | np.ndarray
) -> float:
    """:func:`frechet_distance` between Gaussians fitted (:func:`gaussian_fit`) to two sets."""
    mu1, s1 = _fit(feats1)
    mu2, s2 = _fit(feats2)
    check_same_shape(mu1, mu2, names=("the first feature set", "the second"), what="dimension F")
    return _frechet(mu1, s1, mu2, s2)


# ---------------------------------------------------------------------------------------------
# Precision and recall of distributions
# ---------------------------------------------------------------------------------------------
def _as_features(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x.detach().cpu() if isinstance(x, torch.Tensor) else np.asarray(x))
    t = t.to(torch.float64)
    check_shape(t, "N F", name=name)
    check_finite(t, name=name)
    return t


def _knn_radii(points: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest *other* point of the same set."""
    radii = []
    for start in range(0, points.shape[0], chunk):
        dist = torch.cdist(points[start : start + chunk], points)
        # the smallest distance is the point itself (0); the (k+1)-th smallest is its k-th NN
        radii.append(dist.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int):
    """Share of ``queries`` inside the union of balls B(centre_i, radius_i)."""
    inside = []
    for start in range(0, queries.shape[0], chunk):
        dist = torch.cdist(queries[start : start + chunk], centres)
        inside.append((dist <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).double().mean())


def precision_recall(real: Any, fake: Any, *, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``.

    .. math::
        \text{precision} = \frac{1}{|G|}\sum_{g \in G}
            \mathbb{1}\big[\exists r \in R: \lVert g - r\rVert \le \mathrm{NN}_k(r, R)\big],
        \qquad
        \text{recall} = \frac{1}{|R|}\sum_{r \in R}
            \mathbb{1}\big[\exists g \in G: \lVert r - g\rVert \le \mathrm{NN}_k(g, G)\big]

    where :math:`\mathrm{NN}_k(r, R)` is the distance from r to its k-th nearest neighbour in R
    (r itself excluded).

    Args:
        real: (N_r, F) real features, N_r > k.
        fake: (N_g, F) generated features, N_g > k.
        k: neighbourhood size (the paper uses 3).
        chunk: rows per distance block (memory: chunk × N floats).

    Returns:
        ``(precision, recall)``, each in [0, 1].
    """
    r = _as_features(real, "real")
    g = _as_features(fake, "fake")
    check_int(k, name="k", low=1)
    check_int(chunk, name="chunk", low=1)
    if g.shape[1] != r.shape[1]:
        raise ShapeError(
            f"fake must have F = {r.shape[1]} features like real, got {g.shape[1]}",
            ("N", r.shape[1]),
            g.shape,
        )
    for name, t in (("real", r), ("fake", g)):
        if t.shape[0] <= k:
            raise ValidationError(f"{name} needs more than k = {k} samples, got {t.shape[0]}")
    precision = _coverage(g, r, _knn_radii(r, k, chunk), chunk)
    recall = _coverage(r, g, _knn_radii(g, k, chunk), chunk)
    return precision, recall


# ---------------------------------------------------------------------------------------------
# Class histogram and the combined evaluation
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def class_histogram(
    model: FeatureClassifier, x: torch.Tensor, batch_size: int = 2048
) -> torch.Tensor:
    """Share of images the classifier assigns to each class: Tensor[K] summing to 1."""
    check_finite(x, name="x")
    if x.shape[0] == 0:
        raise ValidationError("x must hold at least one image, got 0")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counts = torch.zeros(model.n_classes, dtype=torch.float64)
    for i in range(0, x.shape[0], batch_size):
        pred = model(x[i : i + batch_size].to(device)).argmax(dim=1).cpu()
        counts += torch.bincount(pred, minlength=model.n_classes).double()
    model.train(was_training)
    return counts / counts.sum()


def total_variation(p: Any, q: Any) -> float:
    r"""Total-variation distance :math:`\tfrac12 \sum_k |p_k - q_k|` of histograms, in [0, 1]."""
    a = _as_float64(p, "p").ravel()
    b = _as_float64(q, "q").ravel()
    if a.shape != b.shape:
        raise ShapeError(
            f"p and q must have the same length, got {a.numel()} and {b.numel()}",
            tuple(a.shape),
            tuple(b.shape),
        )
    return float(0.5 * (a - b).abs().sum())


@dataclass
class SampleQuality:
    """Sample-quality numbers of one sample set against a real reference set.

    Attributes:
        fd: Fréchet distance of the feature Gaussians (lower is better; the real-vs-real floor
            is the best one can expect at this sample size).
        precision: share of samples on the real feature manifold (realism).
        recall: share of real images on the samples' manifold (coverage).
        class_hist: share of samples per predicted class (K values).
        class_tv: total-variation distance of ``class_hist`` to the reference's predicted
            class histogram.
        n_samples: number of samples evaluated.
    """

    fd: float
    precision: float
    recall: float
    class_hist: list[float]
    class_tv: float
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_samples(
    model: FeatureClassifier,
    reference: torch.Tensor,
    samples: torch.Tensor,
    *,
    k: int = 3,
    reference_features: torch.Tensor | None = None,
) -> SampleQuality:
    """FD, precision/recall and the class histogram of ``samples`` against real ``reference``.

    Args:
        model: the trained feature classifier.
        reference: Tensor[N_r, C, H, W] held-out real images (not used to train the models).
        samples: Tensor[N_g, C, H, W] generated images (finite).
        k: neighbourhood size of precision/recall.
        reference_features: the reference's features, if already computed.

    Returns:
        A :class:`SampleQuality`.
    """
    check_finite(samples, name="samples")
    ref_feats = features(model, reference) if reference_features is None else reference_features
    fake_feats = features(model, samples)
    precision, recall = precision_recall(ref_feats, fake_feats, k=k)
    hist = class_histogram(model, samples)
    ref_hist = class_histogram(model, reference)
    return SampleQuality(
        fd=frechet_distance_from_features(ref_feats, fake_feats),
        precision=precision,
        recall=recall,
        class_hist=hist.tolist(),
        class_tv=total_variation(hist, ref_hist),
        n_samples=int(samples.shape[0]),
    )


def real_floor(
    model: FeatureClassifier, reference: torch.Tensor, held_out: torch.Tensor, *, k: int = 3
) -> SampleQuality:
    """The real-vs-real floor: :func:`evaluate_samples` with real ``held_out`` images as samples.

    ``held_out`` must be disjoint from ``reference`` and should have the size of the generated
    sets it is compared with (FD's finite-sample bias depends on the sample size).
    """
    return evaluate_samples(model, reference, held_out, k=k)
