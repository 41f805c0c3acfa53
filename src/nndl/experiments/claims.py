"""The claims of the study notes (``shared/notes/CLAIMS.md``), with their stable IDs.

The report lists them in the notes' order of areas (G, P, F, V, L, C). Statements are condensed
from CLAIMS.md; experiments refer to claims by ID only.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AREAS", "CLAIMS", "Claim", "claim"]


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str

    @property
    def area(self) -> str:
        return self.id[0]


AREAS: dict[str, str] = {
    "G": "Unstable gradients: vanishing and exploding",
    "P": "Pooling",
    "F": "What deep learning is",
    "V": "Generative models",
    "L": "Linear models",
    "C": "Cost volume (PWC-Net)",
}

_CLAIMS = [
    Claim(
        "G1",
        "Layers learn at different speeds",
        "In a deep sigmoid MLP with Gaussian initialisation the speed of learning of hidden layer "
        "l, ||dC/db_l||, falls toward the input; with four hidden layers the last learns about two "
        "orders of magnitude faster than the first (Nielsen, ch. 5).",
    ),
    Claim(
        "G2",
        "More layers can mean lower accuracy",
        "With sigmoid units, accuracy stops improving and then drops as hidden layers are added.",
    ),
    Claim(
        "G3",
        "The cause is a product of factors",
        "For a chain of one neuron per layer, dC/db_1 = σ'(z_1)·w_2·σ'(z_2)·…·σ'(z_L)·dC/da_L. "
        "Since σ' ≤ 1/4, each factor |w_j σ'(z_j)| < 1/4 when |w_j| < 1, so the gradient shrinks "
        "geometrically with depth.",
    ),
    Claim(
        "G4",
        "Large initial weights explode",
        "When |w σ'(z)| > 1 the same product grows geometrically: earlier layers get larger "
        "gradients than later ones.",
    ),
    Claim(
        "G5",
        "Activations as remedy",
        "ReLU, Leaky ReLU, PReLU, RReLU and Maxout instead of sigmoid keep the layers' learning "
        "speeds within about an order of magnitude, and deep nets keep (or gain) accuracy with "
        "depth.",
    ),
    Claim(
        "G6",
        "Batch Normalization as remedy",
        "The same deep sigmoid net with BatchNorm learns at comparable speeds across layers and "
        "trains.",
    ),
    Claim(
        "G7",
        "Initialisation",
        "Gaussian weights of the right scale (Xavier/Glorot for tanh/sigmoid, He/Kaiming for ReLU) "
        "avoid both failure modes; a too-small scale vanishes, a too-large one explodes.",
    ),
    Claim(
        "G8",
        "LSTM as remedy for RNNs",
        "In a vanilla tanh RNN the gradient reaching early time steps decays exponentially with "
        "distance; an LSTM keeps it through its additive cell state, and on the adding problem "
        "learns at sequence lengths where the RNN stays at the baseline MSE of 1/6.",
    ),
    Claim(
        "P1",
        "Pooling compresses",
        "Pooling between convolutions compresses the data and the parameter count (max = local "
        "maximum, average = local mean) and reduces overfitting.",
    ),
    Claim(
        "P2",
        "Pooling gives invariance",
        "Pooled features are more invariant to small translations, local deformations and "
        "rescaling of the input.",
    ),
    Claim("P3", "Pooling enlarges receptive fields", "Pooling enlarges the receptive field."),
    Claim(
        "F1",
        "Function approximation",
        "Deep learning is function approximation with neural-network basis functions where "
        "classical fitting uses polynomials or trigonometric series; the network family is more "
        "expressive.",
    ),
    Claim("F2", "Gradient descent", "The parameters are found by (simple) gradient descent."),
    Claim(
        "F3",
        "Robustness is open",
        "Changing a few parameters of an accurate network can lower its accuracy markedly.",
    ),
    Claim(
        "F4",
        "Credit assignment",
        "Backpropagation gives every parameter's exact contribution to the error in one backward "
        "pass; perturbation methods need one forward pass per parameter to estimate it.",
    ),
    Claim(
        "V1",
        "Density estimation and sampling",
        "A generative model estimates a density p_θ(x) from samples and can sample new data "
        "similar to the real data.",
    ),
    Claim(
        "V2",
        "Two-step generation",
        "A latent-variable model p(x,z) = p(z)·p(x|z) with prior N(0, I) generates by drawing z "
        "from the prior, then x from p(x|z).",
    ),
    Claim(
        "V3",
        "ELBO, EM and the VAE",
        "log p(x) = ELBO(q) + KL(q(z) || p(z|x)); EM alternates an E-step and an M-step; the VAE "
        "models p(x|z) and q(z|x) with neural networks.",
    ),
    Claim(
        "V4",
        "GANs avoid density estimation",
        "A network g maps samples of a simple distribution to data space so that g(z) follows "
        "the data distribution.",
    ),
    Claim(
        "L1",
        "Linear discriminant",
        "f(x; w) = wᵀx + b with a decision function g; for two classes labelled ±1 the boundary "
        "f = 0 is a hyperplane splitting the space in two.",
    ),
    Claim(
        "L2",
        "Multi-class strategies",
        "One-vs-rest (C discriminants), one-vs-one (C(C−1)/2, voting) or argmax (C, predict the "
        "largest). One-vs-rest and one-vs-one leave ambiguous regions; argmax leaves none.",
    ),
    Claim(
        "C1",
        "Cost volume",
        "A cost volume stores the matching costs of a pixel of image 1 with its candidate "
        "corresponding pixels in (warped) image 2.",
    ),
    Claim(
        "C2",
        "Cosine cost and channel count",
        "After L2 normalisation the dot product of two C-vectors is their cosine similarity in "
        "[−1, 1], 1 for identical vectors; displacements up to d give (2d+1)² channels.",
    ),
    Claim(
        "C3",
        "Coarse-to-fine flow",
        "Pyramid + warping + cost volume estimate optical flow coarse to fine.",
    ),
]

CLAIMS: dict[str, Claim] = {c.id: c for c in _CLAIMS}


def claim(claim_id: str) -> Claim:
    """The claim with this ID (``KeyError`` with the valid IDs if unknown)."""
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}; valid: {', '.join(CLAIMS)}") from None
