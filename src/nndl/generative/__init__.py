"""Generative models: Gaussian mixtures by EM, the variational autoencoder, decoder likelihoods.

- :class:`GaussianMixtureEM` — EM in PyTorch with scikit-learn's estimator conventions (V3).
- :class:`VAE`, :func:`train_vae` — encoder q(z|x), decoder p(x|z), prior N(0, I); ELBO,
  importance-weighted log-likelihood, two-step sampling (V1–V3).
- :mod:`~nndl.generative.likelihoods` — Bernoulli, discretised logistic and Gaussian decoders.
- :class:`GAN`, :func:`train_gan` — generator g(z) and discriminator, non-saturating loss (V4).
- :mod:`~nndl.generative.quality` — Fréchet distance, precision/recall of distributions and
  class histograms on features of a digits classifier.
- :mod:`~nndl.generative.exact` — exact checks of latent-variable models: 2-D latent
  quadrature, a linear-Gaussian VAE with its exact posterior, sampler deviations, IW gaps, the
  identity checked for several q (:func:`linear_gaussian_check`, :func:`identity_check`).
- :func:`em_trace`, :func:`em_monotonicity` — EM one iteration at a time (V3);
  :func:`largest_bound_fall` — how far a regularised fit's recorded bound falls.
- :func:`tune_gaussian_mixture`, :func:`tune_kernel_density`, :func:`em_agreement`,
  :func:`bits_per_dim` — classical density baselines tuned on validation data (V1).
- :mod:`~nndl.generative.studies` — what V1 and V4 measure: :func:`dequantized_splits`,
  :func:`density_baselines`, :func:`vae_scores`, :func:`mixture_samples`,
  :func:`vae_mean_pixels`, :func:`evaluate_sets`, :func:`gan_run_summary`.
- :mod:`~nndl.generative.runs` — run folders: :func:`train_run`, :func:`evaluate_run`,
  :func:`load_run_model`, :func:`draw_samples` (what ``nndl train|sample|evaluate`` call).
"""

from .baselines import bits_per_dim, em_agreement, tune_gaussian_mixture, tune_kernel_density
from .em_trace import EMTrace, em_monotonicity, em_trace, largest_bound_fall
from .exact import (
    LatentQuadrature,
    LinearGaussianCheck,
    diag_gaussian_kl,
    encoder_identity_checks,
    gaussian_ellipse,
    gaussian_sample_deviations,
    identity_check,
    identity_picture,
    importance_gaps,
    latent_quadrature,
    linear_gaussian_check,
    linear_gaussian_vae,
    posterior_box,
    posterior_picture,
)
from .gan import (
    GAN,
    GAN_ARCHS,
    GANRun,
    discriminator_loss,
    generator_loss,
    image_grid,
    image_grid_uint8,
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
from .studies import (
    BASELINE_SETS,
    density_baselines,
    dequantized_splits,
    evaluate_sets,
    gan_run_summary,
    gap_ratio,
    image_grids,
    mixture_samples,
    trivial_sets,
    vae_mean_pixels,
    vae_scores,
)
from .vae import VAE, gaussian_kl, train_vae

__all__ = [
    "BASELINE_SETS",
    "GAN",
    "GAN_ARCHS",
    "LIKELIHOODS",
    "VAE",
    "Bernoulli",
    "DiscretizedLogistic",
    "EMTrace",
    "FeatureClassifier",
    "GANRun",
    "Gaussian",
    "GaussianMixtureEM",
    "LatentQuadrature",
    "Likelihood",
    "LinearGaussianCheck",
    "RunData",
    "SampleQuality",
    "TrainedRun",
    "bernoulli_log_prob",
    "bits_per_dim",
    "class_histogram",
    "density_baselines",
    "dequantized_splits",
    "diag_gaussian_kl",
    "discretized_logistic_log_prob",
    "discriminator_loss",
    "draw_samples",
    "em_agreement",
    "em_monotonicity",
    "em_trace",
    "encoder_identity_checks",
    "evaluate_run",
    "evaluate_samples",
    "evaluate_sets",
    "features",
    "frechet_distance",
    "frechet_distance_from_features",
    "gan_run_summary",
    "gap_ratio",
    "gaussian_ellipse",
    "gaussian_fit",
    "gaussian_kl",
    "gaussian_log_prob",
    "gaussian_sample_deviations",
    "generator_loss",
    "identity_check",
    "identity_picture",
    "image_grid",
    "image_grid_uint8",
    "image_grids",
    "importance_gaps",
    "largest_bound_fall",
    "latent_quadrature",
    "linear_gaussian_check",
    "linear_gaussian_vae",
    "load_run_data",
    "load_run_model",
    "make_likelihood",
    "mixture_samples",
    "posterior_box",
    "posterior_picture",
    "precision_recall",
    "read_run_config",
    "real_floor",
    "save_image_grid",
    "total_variation",
    "train_feature_classifier",
    "train_gan",
    "train_run",
    "train_vae",
    "trivial_sets",
    "tune_gaussian_mixture",
    "tune_kernel_density",
    "vae_mean_pixels",
    "vae_scores",
]
