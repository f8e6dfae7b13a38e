"""Shared checks for the tests/test_viz_*.py files: a rendered plot file is a
real, non-blank image of sensible size."""

import os

import matplotlib.image
import numpy as np


def check_image(path, min_size=100):
    """Read ``path`` back with matplotlib and check it; return the pixel array."""
    assert os.path.isfile(path), f"{path} was not written"
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), f"{path}: unexpected pixel layout {img.shape}"
    h, w = img.shape[:2]
    assert min_size <= h <= 5000 and min_size <= w <= 8000, f"{path} is {w}x{h}"
    assert float(np.std(img[..., :3])) > 0.01, f"{path} is blank"
    return img
