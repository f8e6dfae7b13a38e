"""``dlcore.nn.utils``: gradient clipping, explicit weight penalties,
convolution shape arithmetic and variable-length sequences (``rnn``)."""

from .conv_shape import conv_output_shape, conv_transpose_output_shape
from .clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from .penalty import l1_penalty, l2_penalty
from . import rnn
from .rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "conv_output_shape",
    "conv_transpose_output_shape",
    "get_total_norm",
    "l1_penalty",
    "l2_penalty",
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "rnn",
]
