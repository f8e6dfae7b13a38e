"""The examples in docstrings are tests too: run every doctest of the
installed package's modules."""

import doctest
import importlib
import pkgutil

import pytest

import dlcore

SKIP = {"dlcore.__main__", "dlcore.bench.__main__"}


def _modules():
    names = ["dlcore"]
    for info in pkgutil.walk_packages(dlcore.__path__, "dlcore."):
        if info.name not in SKIP and not info.name.endswith("._core"):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
