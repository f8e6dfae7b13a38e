"""``dlcore.nn.utils``: gradient clipping and explicit weight penalties."""

from .clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from .penalty import l1_penalty, l2_penalty

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "l1_penalty",
    "l2_penalty",
]
