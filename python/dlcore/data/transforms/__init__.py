"""Batch transforms and augmentation (``dlcore.data.transforms``).

Shaped like ``torchvision.transforms`` but operating on whole batches
``(N, C, H, W)`` (or single images ``(C, H, W)``), as dlcore tensors or NumPy
arrays, with per-sample random parameters and vectorised NumPy: no Python
loop over samples or pixels. Random transforms take ``generator`` (a
``numpy.random.Generator`` or int seed); without one they draw from the
DataLoader's per-batch generator, else from dlcore's global RNG.

Examples::

    >>> import dlcore.data.transforms as T
    >>> train_tf = T.Compose([
    ...     T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
    ...     T.ColorJitter(0.2, 0.2, 0.2), T.Normalize([0.5] * 3, [0.25] * 3),
    ...     T.RandomErasing(p=0.25)])
    >>> tuple(train_tf(dlcore.rand(16, 3, 32, 32)).shape)
    (16, 3, 32, 32)
"""

import dlcore  # noqa: F401  (doctest namespace)

from ._base import Compose, Lambda, Normalize, ToTensor
from .color import (
    ColorJitter,
    RandomErasing,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    rgb_to_grayscale,
)
from .geometric import (
    CenterCrop,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    RandomVerticalFlip,
    hflip,
    rotate,
    vflip,
)
from .mixing import CutMix, MixUp, cutmix, mixed_loss, mixup, rand_bbox
from .tta import TTA_VIEWS, tta_predict

__all__ = [
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "CutMix",
    "Lambda",
    "MixUp",
    "Normalize",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRotation",
    "RandomVerticalFlip",
    "TTA_VIEWS",
    "ToTensor",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "cutmix",
    "hflip",
    "mixed_loss",
    "mixup",
    "rand_bbox",
    "rgb_to_grayscale",
    "rotate",
    "tta_predict",
    "vflip",
]
