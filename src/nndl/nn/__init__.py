"""Building blocks: activations, initialisers, network builders, and the sigmoid chain of G3.

- :func:`activation` (names in :data:`ACTIVATIONS`), :class:`Maxout`, :class:`MaxoutPool`,
  :func:`maxout`;
- :func:`init_` (schemes in :data:`INIT_SCHEMES`);
- :func:`mlp`, :func:`cnn`, :class:`SequenceModel` (vanilla RNN or LSTM, unrolled);
- :func:`gap_cnn`, :func:`gap_width_for` — an unpooled CNN with a global-average head, at a
  matched parameter count (claim P1);
- :class:`SigmoidChain`, :func:`chain_bias_gradients`, :func:`chain_factors`,
  :func:`chain_gradient_check` (claim G3);
- :func:`sigmoid_cross_entropy`, Nielsen's cost for sigmoid outputs (claims G1, G2).
"""

from .activations import ACTIVATIONS, Maxout, MaxoutPool, activation, maxout
from .builders import POOLS, cnn, mlp
from .chain import SigmoidChain, chain_bias_gradients, chain_factors, chain_gradient_check
from .costs import sigmoid_cross_entropy
from .gap import gap_cnn, gap_width_for
from .init import INIT_SCHEMES, init_, initialisable_layers
from .recurrent import CELLS, SequenceModel

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "INIT_SCHEMES",
    "POOLS",
    "Maxout",
    "MaxoutPool",
    "SequenceModel",
    "SigmoidChain",
    "activation",
    "chain_bias_gradients",
    "chain_factors",
    "chain_gradient_check",
    "cnn",
    "gap_cnn",
    "gap_width_for",
    "init_",
    "initialisable_layers",
    "maxout",
    "mlp",
    "sigmoid_cross_entropy",
]
