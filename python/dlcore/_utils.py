"""Small helpers shared by nn and optim."""

import dlcore


def zero_grads(params, set_to_none: bool = True) -> None:
    """Clears the gradients of ``params``: drops them (``set_to_none``), which
    frees memory and lets the next backward write instead of add, or zeroes
    them in place."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            with dlcore.no_grad():
                p.grad.zero_()
