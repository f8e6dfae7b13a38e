"""Learning-rate schedules, as ``torch.optim.lr_scheduler``.

Same classes, arguments, defaults and update rules (including PyTorch's
chainable, recursive forms, so the sequences agree with torch's to the last
bits), and the same ``state_dict()`` contents. Call ``scheduler.step()``
after ``optimizer.step()``, once per epoch (or per batch for OneCycleLR).

Example::

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> sched = dlcore.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.1, 0.05, 0.05, 0.025, 0.025]
"""

from ._base import ExponentialLR, LinearLR, LRScheduler, MultiStepLR, StepLR
from ._compose import ReduceLROnPlateau, SequentialLR
from ._cyclic import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
