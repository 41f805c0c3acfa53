r"""Decoder likelihoods p(x | z) for the :class:`~nndl.generative.vae.VAE`.

A decoder network maps z to the parameters of a per-element distribution; a
:class:`Likelihood` turns those parameters into log-densities, samples and means. Three are
provided:

* :class:`Bernoulli` — binary data (pixels on/off). Parameters: logits.
  :math:`\log p(x \mid z) = \sum_i x_i \log \sigma(l_i) + (1 - x_i) \log \sigma(-l_i)`.
* :class:`DiscretizedLogistic` — quantised intensities with ``levels`` values, dequantised to
  :math:`[0, 1]` as :math:`x = (\text{pixel} + u) / \text{levels}`, :math:`u \sim U(0, 1)`
  (Salimans et al. 2017, PixelCNN++, eq. 2). Parameters: mean μ and log-scale log s of a logistic.
  A pixel in bin :math:`b` (edges :math:`b/L` and :math:`(b+1)/L`) has probability
  :math:`P(b) = \sigma((\tfrac{b+1}{L} - \mu)/s) - \sigma((\tfrac{b}{L} - \mu)/s)`, with the first
  and last bin extended to :math:`\mp\infty`; the density on :math:`[0, 1]` is
  :math:`L \cdot P(b)`, constant inside each bin.
* :class:`Gaussian` — any real data; a Gaussian with per-element mean and learned log-scale.

All methods broadcast over leading dimensions; ``log_prob`` returns element-wise values (the VAE
sums them over the data dimensions).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .._validation import ValidationError, check_choice, check_in_range, check_int

__all__ = [
    "LIKELIHOODS",
    "Bernoulli",
    "DiscretizedLogistic",
    "Gaussian",
    "Likelihood",
    "bernoulli_log_prob",
    "discretized_logistic_log_prob",
    "gaussian_log_prob",
    "make_likelihood",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _draw(
    kind: str,
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``torch.rand``/``torch.randn`` on ``generator``'s device, then moved to ``device``.

    Lets a seeded CPU generator drive sampling for a model on another device.
    """
    source = generator.device if generator is not None else device
    fn = torch.rand if kind == "rand" else torch.randn
    return fn(tuple(shape), generator=generator, device=source, dtype=dtype).to(device)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`x \log\sigma(l) + (1 - x)\log\sigma(-l)` (x in [0, 1], broadcast)."""
    x, logits = torch.broadcast_tensors(x, logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`\log \mathcal N(x; \mu, e^{2 \log s})`."""
    return -0.5 * (((x - mean) * torch.exp(-log_scale)) ** 2 + _LOG_2PI) - log_scale


def discretized_logistic_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int
) -> torch.Tensor:
    r"""Element-wise log-density on [0, 1] of the discretised logistic with ``levels`` bins.

    .. math::
        \log p(x) = \log L + \log\big(\sigma(a) - \sigma(c)\big), \quad
        a = \frac{(b+1)/L - \mu}{s}, \; c = \frac{b/L - \mu}{s}, \;
        b = \min(\lfloor xL \rfloor, L-1)

    computed without cancellation through the identity
    :math:`\sigma(a) - \sigma(c) = \sigma(a)\,\sigma(-c)\,(1 - e^{-(a - c)})`, where
    :math:`a - c = 1/(Ls)`; the first bin drops the :math:`\sigma(-c)` and last factor
    (:math:`c = -\infty`), the last bin the :math:`\sigma(a)` and last factor (:math:`a = \infty`).

    Args:
        x: values in [0, 1]; shapes broadcast with ``mean`` and ``log_scale``.
        mean: μ of the logistic (on the [0, 1] scale).
        log_scale: log s.
        levels: L, the number of bins.

    Returns:
        The log-density (not the log-probability of the bin: it includes log L), so that
        :math:`\sum \log p` is the log-density of dequantised data in :math:`[0, 1]^D`.
    """
    b = torch.clamp(torch.floor(x * levels), 0, levels - 1)
    inv_s = torch.exp(-log_scale)
    a = ((b + 1) / levels - mean) * inv_s
    c = (b / levels - mean) * inv_s
    first = b <= 0
    last = b >= levels - 1
    log_upper = torch.where(last, torch.zeros_like(a), F.logsigmoid(a))
    log_lower = torch.where(first, torch.zeros_like(c), F.logsigmoid(-c))
    width = inv_s / levels  # a - c > 0
    log_width = torch.log(-torch.expm1(-width))
    log_width = torch.where(first | last, torch.zeros_like(log_width), log_width)
    return log_upper + log_lower + log_width + math.log(levels)


class Likelihood(ABC):
    """Per-element distribution p(x | z) whose parameters a decoder outputs.

    Attributes:
        name: the key in :data:`LIKELIHOODS`.
        n_params: parameters per data element (the decoder outputs ``n_params × D`` numbers).
    """

    name: ClassVar[str]
    n_params: ClassVar[int]

    @abstractmethod
    def check_support(self, x: torch.Tensor, *, name: str = "x") -> None:
        """Raise :class:`~nndl.ValidationError` if ``x`` lies outside the support."""

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder sees of ``x`` (identity unless overridden)."""
        return x

    @abstractmethod
    def log_prob(self, params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        """Element-wise log p(x | params); ``params`` broadcast against ``x``."""

    @abstractmethod
    def sample(
        self, params: tuple[torch.Tensor, ...], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One draw x ~ p(x | params), element-wise."""

    @abstractmethod
    def mean(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """E[x | params], element-wise."""

    def config(self) -> dict[str, Any]:
        """JSON-able arguments that rebuild this likelihood with :func:`make_likelihood`."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def _range_error(self, x: torch.Tensor, name: str, what: str, hint: str) -> ValidationError:
        lo, hi = float(x.min()), float(x.max())
        return ValidationError(
            f"{name} must lie in [0, 1] for the {what} likelihood, got values in "
            f"[{lo:.4g}, {hi:.4g}]; {hint}"
        )


def _in_unit_interval(x: torch.Tensor) -> bool:
    return bool(x.numel() == 0 or (float(x.min()) >= 0.0 and float(x.max()) <= 1.0))


class Bernoulli(Likelihood):
    r"""Bernoulli pixels for binary data in {0, 1}; parameters: logits.

    Values strictly between 0 and 1 are accepted (the log-density is then the cross-entropy
    commonly used for grey-level MNIST, which is not a normalised density); values outside
    [0, 1] are rejected.
    """

    name = "bernoulli"
    n_params = 1

    def check_support(self, x: torch.Tensor, *, name: str = "x") -> None:
        if not _in_unit_interval(x):
            raise self._range_error(
                x,
                name,
                "Bernoulli",
                "the Bernoulli models binary pixels: scale the data to [0, 1] and binarise it, or "
                "use likelihood='discretized_logistic' or 'gaussian'",
            )

    def log_prob(self, params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(x, params[0])

    def sample(
        self, params: tuple[torch.Tensor, ...], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        p = torch.sigmoid(params[0])
        return (_draw("rand", p.shape, generator, p.device, p.dtype) < p).to(p.dtype)

    def mean(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.sigmoid(params[0])


class Gaussian(Likelihood):
    r"""Gaussian per element with learned mean and log-scale (floored at ``log(min_scale)``)."""

    name = "gaussian"
    n_params = 2

    def __init__(self, min_scale: float = 1e-3):
        self.min_scale = check_in_range(min_scale, name="min_scale", low=0.0, low_inclusive=False)

    def check_support(self, x: torch.Tensor, *, name: str = "x") -> None:
        """Any finite value is in the support (finiteness is checked by the VAE)."""

    def _log_scale(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.clamp_min(math.log(self.min_scale))

    def log_prob(self, params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(x, params[0], self._log_scale(params[1]))

    def sample(
        self, params: tuple[torch.Tensor, ...], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        mean = params[0]
        eps = _draw("randn", mean.shape, generator, mean.device, mean.dtype)
        return mean + eps * self._log_scale(params[1]).exp()

    def mean(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return params[0]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "min_scale": self.min_scale}


class DiscretizedLogistic(Likelihood):
    r"""Discretised logistic density on [0, 1] for data quantised to ``levels`` values.

    See :func:`discretized_logistic_log_prob`. The encoder is given the centre of each value's
    bin, :math:`(b + \tfrac12)/L`, so the model's density is exactly constant inside every bin:
    it is the uniform dequantisation of a discrete model, and its log-density at any
    :math:`x = (\text{pixel} + u)/L` equals the discrete log-probability plus :math:`D \log L`.

    Args:
        levels: L, the number of intensity values (17 for the digits, 256 for 8-bit images).
        min_log_scale: floor of log s (keeps :math:`1/(Ls)` finite).
    """

    name = "discretized_logistic"
    n_params = 2

    def __init__(self, levels: int = 256, min_log_scale: float = -7.0):
        self.levels = check_int(levels, name="levels", low=2)
        self.min_log_scale = check_in_range(min_log_scale, name="min_log_scale")

    def check_support(self, x: torch.Tensor, *, name: str = "x") -> None:
        if not _in_unit_interval(x):
            raise self._range_error(
                x,
                name,
                "discretized_logistic",
                f"give intensities scaled to [0, 1] (dequantised as (pixel + u) / {self.levels}), "
                "or use likelihood='gaussian' for unbounded data",
            )

    def bins(self, x: torch.Tensor) -> torch.Tensor:
        """Bin index b = min(⌊xL⌋, L − 1) of each value (as float)."""
        return torch.clamp(torch.floor(x * self.levels), 0, self.levels - 1)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return (self.bins(x) + 0.5) / self.levels

    def _log_scale(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.clamp_min(self.min_log_scale)

    def log_prob(self, params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        return discretized_logistic_log_prob(x, params[0], self._log_scale(params[1]), self.levels)

    def bin_probs(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """P(b) for every bin: Tensor[..., L] (sums to 1 over the last dimension)."""
        mean, log_scale = params[0], self._log_scale(params[1])
        edges = torch.arange(1, self.levels, device=mean.device, dtype=mean.dtype) / self.levels
        cdf = torch.sigmoid((edges - mean.unsqueeze(-1)) * torch.exp(-log_scale).unsqueeze(-1))
        zeros = torch.zeros_like(cdf[..., :1])
        cdf = torch.cat([zeros, cdf, zeros + 1.0], dim=-1)
        return cdf[..., 1:] - cdf[..., :-1]

    def sample(
        self, params: tuple[torch.Tensor, ...], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        mean, log_scale = params[0], self._log_scale(params[1])
        u = _draw("rand", mean.shape, generator, mean.device, mean.dtype)
        u = u.clamp(1e-6, 1 - 1e-6)
        y = mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))  # a logistic draw
        b = self.bins(y)
        v = _draw("rand", mean.shape, generator, mean.device, mean.dtype)
        return (b + v) / self.levels  # uniform inside the bin: a draw of the dequantised density

    def mean(self, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        probs = self.bin_probs(params)
        centres = (torch.arange(self.levels, device=probs.device, dtype=probs.dtype) + 0.5) / (
            self.levels
        )
        return probs @ centres

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "levels": self.levels, "min_log_scale": self.min_log_scale}


#: Likelihood classes by name.
LIKELIHOODS: dict[str, type[Likelihood]] = {
    "bernoulli": Bernoulli,
    "discretized_logistic": DiscretizedLogistic,
    "gaussian": Gaussian,
}


def make_likelihood(spec: str | dict[str, Any] | Likelihood, **kwargs: Any) -> Likelihood:
    """A :class:`Likelihood` from a name (+ keyword arguments), a config dict, or an instance.

    Example:
        >>> make_likelihood("discretized_logistic", levels=17)
        DiscretizedLogistic(levels=17, min_log_scale=-7.0)
    """
    if isinstance(spec, Likelihood):
        return spec
    if isinstance(spec, dict):
        kwargs = {**{k: v for k, v in spec.items() if k != "name"}, **kwargs}
        spec = spec.get("name", "")
    name = check_choice(spec, LIKELIHOODS, name="likelihood")
    return LIKELIHOODS[name](**kwargs)
