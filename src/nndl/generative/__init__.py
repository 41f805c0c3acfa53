"""Generative models: Gaussian mixtures by EM, the variational autoencoder, decoder likelihoods.

- :class:`GaussianMixtureEM` — EM in PyTorch with scikit-learn's estimator conventions (V3).
- :class:`VAE`, :func:`train_vae` — encoder q(z|x), decoder p(x|z), prior N(0, I); ELBO,
  importance-weighted log-likelihood, two-step sampling (V1–V3).
- :mod:`~nndl.generative.likelihoods` — Bernoulli, discretised logistic and Gaussian decoders.
"""

from .gmm import GaussianMixtureEM
from .likelihoods import (
    LIKELIHOODS,
    Bernoulli,
    DiscretizedLogistic,
    Gaussian,
    Likelihood,
    bernoulli_log_prob,
    discretized_logistic_log_prob,
    gaussian_log_prob,
    make_likelihood,
)
from .vae import VAE, gaussian_kl, train_vae

__all__ = [
    "LIKELIHOODS",
    "VAE",
    "Bernoulli",
    "DiscretizedLogistic",
    "Gaussian",
    "GaussianMixtureEM",
    "Likelihood",
    "bernoulli_log_prob",
    "discretized_logistic_log_prob",
    "gaussian_kl",
    "gaussian_log_prob",
    "make_likelihood",
    "train_vae",
]
