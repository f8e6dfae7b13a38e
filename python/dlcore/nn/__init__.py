"""Neural-network building blocks: ``Module``, layers, ``functional`` and ``init``."""

from . import functional, init, utils
from .layers import (
    CrossEntropyLoss,
    Flatten,
    Identity,
    Linear,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .losses import *  # noqa: F403  (L1Loss, NLLLoss, BCEWithLogitsLoss, ...)
from .losses import __all__ as _losses_all
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout, Dropout2d
from .module import Module, Parameter
from .noise import GaussianDropout, GaussianNoise
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "CrossEntropyLoss",
    "Flatten",
    "Identity",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
    "utils",
]
__all__ += [*_losses_all, "GaussianDropout", "GaussianNoise", "Dropout", "Dropout2d", "ModuleList", "ModuleDict", "Conv1d", "Conv2d", "ConvTranspose2d"]

# CNN layers (issue 4)
from . import utils  # noqa: E402
from .activation import *  # noqa: E402,F403
from .activation import __all__ as _act_all  # noqa: E402
from .normalization import BatchNorm1d, BatchNorm2d  # noqa: E402
from .pooling import *  # noqa: E402,F403
from .pooling import __all__ as _pool_all  # noqa: E402
from .upsampling import *  # noqa: E402,F403
from .upsampling import __all__ as _up_all  # noqa: E402

__all__ += [*_act_all, *_pool_all, *_up_all, "BatchNorm1d", "BatchNorm2d", "utils"]

# sequence models (issue 5)
from .normalization_seq import Embedding, LayerNorm  # noqa: E402

__all__ += ["Embedding", "LayerNorm"]
from .attention import MultiheadAttention  # noqa: E402

__all__ += ["MultiheadAttention"]
__all__ += ["LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell"]
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding  # noqa: E402
from .transformer import (  # noqa: E402
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from .vit import PatchEmbedding  # noqa: E402

__all__ += [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "PatchEmbedding",
]
