"""Generative models: Gaussian mixtures by EM, the variational autoencoder, decoder likelihoods.

- :class:`GaussianMixtureEM` — EM in PyTorch with scikit-learn's estimator conventions (V3).
- :class:`VAE`, :func:`train_vae` — encoder q(z|x), decoder p(x|z), prior N(0, I); ELBO,
  importance-weighted log-likelihood, two-step sampling (V1–V3).
- :mod:`~nndl.generative.likelihoods` — Bernoulli, discretised logistic and Gaussian decoders.
- :class:`GAN`, :func:`train_gan` — generator g(z) and discriminator, non-saturating loss (V4).
- :mod:`~nndl.generative.quality` — Fréchet distance, precision/recall of distributions and
  class histograms on features of a digits classifier.
- :mod:`~nndl.generative.runs` — run folders: :func:`train_run`, :func:`evaluate_run`,
  :func:`load_run_model`, :func:`draw_samples` (what ``nndl train|sample|evaluate`` call).
"""

from .gan import (
    GAN,
    GAN_ARCHS,
    GANRun,
    discriminator_loss,
    generator_loss,
    image_grid,
    save_image_grid,
    train_gan,
)
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
from .quality import (
    FeatureClassifier,
    SampleQuality,
    class_histogram,
    evaluate_samples,
    features,
    frechet_distance,
    frechet_distance_from_features,
    gaussian_fit,
    precision_recall,
    real_floor,
    total_variation,
    train_feature_classifier,
)
from .runs import (
    RunData,
    TrainedRun,
    draw_samples,
    evaluate_run,
    load_run_data,
    load_run_model,
    read_run_config,
    train_run,
)
from .vae import VAE, gaussian_kl, train_vae

__all__ = [
    "GAN",
    "GAN_ARCHS",
    "LIKELIHOODS",
    "VAE",
    "Bernoulli",
    "DiscretizedLogistic",
    "FeatureClassifier",
    "GANRun",
    "Gaussian",
    "GaussianMixtureEM",
    "Likelihood",
    "RunData",
    "SampleQuality",
    "TrainedRun",
    "bernoulli_log_prob",
    "class_histogram",
    "discretized_logistic_log_prob",
    "discriminator_loss",
    "draw_samples",
    "evaluate_run",
    "evaluate_samples",
    "features",
    "frechet_distance",
    "frechet_distance_from_features",
    "gaussian_fit",
    "gaussian_kl",
    "gaussian_log_prob",
    "generator_loss",
    "image_grid",
    "load_run_data",
    "load_run_model",
    "make_likelihood",
    "precision_recall",
    "read_run_config",
    "real_floor",
    "save_image_grid",
    "total_variation",
    "train_feature_classifier",
    "train_gan",
    "train_run",
    "train_vae",
]
