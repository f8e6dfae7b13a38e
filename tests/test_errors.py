"""Every bad input raises the exception type torch raises, and dlcore's message
names the op and the offending shapes / values (never a crash or a panic).

Each case is `(id, fn(m), exception, words)`: fn gets the module (dlcore or torch).
`words` are regexes that must all match dlcore's message (case-insensitive); a tuple of ints
in `words` is a shape, accepted as "[2, 3]", "(2, 3)" or "2x3".
The same table is run against torch to prove the exception types are torch's.
"""

import re

import numpy as np
import pytest

import dlcore

try:
    import torch
except ImportError:
    torch = None


def _neg_step(m):
    return m.ones(4)[::-1]


def _setitem_wrong_shape(m):
    a = m.zeros(3, 4)
    a[0] = m.ones(5)


def _bad_view_noncontig(m):
    return m.ones(2, 3).t().view(6)


def _inplace_bad_cast(m):
    return m.ones(3, dtype=m.int64).add_(1.5)


def _inplace_broadcast_out(m):
    return m.ones(3).add_(m.ones(2, 3))


CASES = [
    # --- shape mismatches in binary ops
    ("add_shapes", lambda m: m.ones(2, 3) + m.ones(4, 3), RuntimeError, ["add", (2, 3), (4, 3)]),
    ("sub_shapes", lambda m: m.ones(2, 3) - m.ones(2, 4), RuntimeError, ["sub", (2, 3), (2, 4)]),
    ("mul_shapes", lambda m: m.mul(m.ones(5), m.ones(3)), RuntimeError, ["mul", (5,), (3,)]),
    ("div_shapes", lambda m: m.ones(2, 1, 3) / m.ones(4, 2), RuntimeError, ["div", (2, 1, 3), (4, 2)]),
    ("maximum_shapes", lambda m: m.maximum(m.ones(2), m.ones(3)), RuntimeError, ["maximum", (2,), (3,)]),
    ("where_shapes", lambda m: m.where(m.ones(2, dtype=m.bool), m.ones(3), m.ones(2)), RuntimeError, ["where"]),
    ("eq_shapes", lambda m: m.ones(2) == m.ones(3), RuntimeError, ["eq", (2,), (3,)]),
    ("inplace_broadcast", _inplace_broadcast_out, RuntimeError, ["add_", (3,), (2, 3)]),
    # --- matmul family
    ("matmul_2d", lambda m: m.ones(2, 3) @ m.ones(4, 5), RuntimeError, ["matmul", (2, 3), (4, 5)]),
    ("matmul_1d", lambda m: m.matmul(m.ones(3), m.ones(4)), RuntimeError, ["matmul|dot", (3,), (4,)]),
    ("matmul_batched", lambda m: m.ones(2, 2, 3) @ m.ones(3, 3, 4), RuntimeError, ["matmul", (2, 2, 3), (3, 3, 4)]),
    ("matmul_0d", lambda m: m.matmul(m.ones(()), m.ones(3)), RuntimeError, ["matmul"]),
    ("mm_rank", lambda m: m.mm(m.ones(3), m.ones(3, 2)), RuntimeError, ["mm"]),
    ("bmm_rank", lambda m: m.bmm(m.ones(2, 3), m.ones(3, 2)), RuntimeError, ["bmm"]),
    ("matmul_dtype", lambda m: m.ones(2, 2) @ m.ones(2, 2, dtype=m.int64), RuntimeError, ["matmul"]),
    # --- view / reshape / shape ops
    ("view_size", lambda m: m.ones(2, 3).view(4), RuntimeError, ["view", (4,), "6"]),
    ("view_noncontig", _bad_view_noncontig, RuntimeError, ["view", "reshape"]),
    ("view_two_inferred", lambda m: m.ones(2, 3).view(-1, -1), RuntimeError, ["view", "infer"]),
    ("reshape_size", lambda m: m.ones(2, 3).reshape(5, 2), RuntimeError, ["reshape", (5, 2), "6"]),
    ("expand_bad", lambda m: m.ones(3).expand(4), RuntimeError, ["expand", (3,), (4,)]),
    ("expand_fewer_dims", lambda m: m.ones(2, 3).expand(3), RuntimeError, ["expand"]),
    ("permute_len", lambda m: m.ones(2, 3).permute(0), RuntimeError, ["permute"]),
    ("permute_repeat", lambda m: m.ones(2, 3).permute(0, 0), RuntimeError, ["permute"]),
    ("cat_shapes", lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)]), RuntimeError, ["cat", (2, 3), (2, 4)]),
    ("cat_empty_list", lambda m: m.cat([]), ValueError, ["cat"]),
    ("cat_rank", lambda m: m.cat([m.ones(2, 3), m.ones(3)]), RuntimeError, ["cat"]),
    ("stack_shapes", lambda m: m.stack([m.ones(2), m.ones(3)]), RuntimeError, ["stack", (2,), (3,)]),
    ("split_sizes", lambda m: m.ones(5).split([2, 2]), RuntimeError, ["split", "5"]),
    ("narrow_range", lambda m: m.ones(5).narrow(0, 3, 4), RuntimeError, ["narrow"]),
    ("t_3d", lambda m: m.ones(2, 3, 4).t(), RuntimeError, ["t"]),
    ("setitem_shape", _setitem_wrong_shape, RuntimeError, [(5,), (4,)]),
    ("neg_step", _neg_step, ValueError, ["step"]),
    # --- dimension out of range -> IndexError naming the op
    ("sum_dim", lambda m: m.ones(2, 3).sum(dim=2), IndexError, ["sum", "2"]),
    ("mean_dim", lambda m: m.ones(2, 3).mean(dim=-3), IndexError, ["mean", "-3"]),
    ("softmax_dim", lambda m: m.softmax(m.ones(2, 3), dim=5), IndexError, ["softmax", "5"]),
    ("transpose_dim", lambda m: m.ones(2, 3).transpose(0, 3), IndexError, ["transpose", "3"]),
    ("unsqueeze_dim", lambda m: m.ones(2, 3).unsqueeze(4), IndexError, ["unsqueeze", "4"]),
    ("squeeze_dim", lambda m: m.ones(2, 3).squeeze(2), IndexError, ["squeeze", "2"]),
    ("cat_dim", lambda m: m.cat([m.ones(2), m.ones(2)], dim=1), IndexError, ["cat", "1"]),
    ("max_dim", lambda m: m.ones(2, 3).max(dim=2), IndexError, ["max", "2"]),
    ("argmax_dim", lambda m: m.ones(2, 3).argmax(dim=-4), IndexError, ["argmax", "-4"]),
    ("flatten_dim", lambda m: m.ones(2, 3).flatten(0, 5), IndexError, ["flatten", "5"]),
    ("gather_dim", lambda m: m.ones(2, 3).gather(2, m.zeros(2, 3, dtype=m.int64)), IndexError, ["gather", "2"]),
    # --- dtype problems
    ("sub_bool", lambda m: m.ones(2, dtype=m.bool) - m.ones(2, dtype=m.bool), RuntimeError, ["sub", "bool"]),
    ("neg_bool", lambda m: -m.ones(2, dtype=m.bool), RuntimeError, ["neg", "bool"]),
    ("bitwise_float", lambda m: m.ones(2) & m.ones(2), RuntimeError, ["bitwise_and", "float"]),
    ("mean_int", lambda m: m.ones(2, dtype=m.int64).mean(), RuntimeError, ["mean", "long|int64"]),
    ("inplace_cast", _inplace_bad_cast, RuntimeError, ["add_", "float", "long|int64"]),
    ("int_requires_grad", lambda m: m.ones(2, dtype=m.int64).requires_grad_(), RuntimeError, ["floating point"]),
    ("float_index", lambda m: m.ones(3)[m.ones(2)], IndexError, ["long", "bool"]),
    ("gather_float_index", lambda m: m.ones(3).gather(0, m.ones(2)), RuntimeError, ["gather", "int64"]),
    ("add_str", lambda m: m.ones(2) + "a", TypeError, ["str"]),
    ("tensor_str", lambda m: m.tensor(["a"]), ValueError, ["str"]),
    ("tensor_ragged", lambda m: m.tensor([[1, 2], [3]]), ValueError, ["length|inhomogeneous|sequence"]),
    # --- index out of range
    ("index_int", lambda m: m.ones(3)[5], IndexError, ["5", "3"]),
    ("index_int_neg", lambda m: m.ones(3, 2)[-4], IndexError, ["-4", "3"]),
    ("index_second_dim", lambda m: m.ones(3, 2)[0, 2], IndexError, ["2"]),
    ("too_many_indices", lambda m: m.ones(3)[0, 0], IndexError, ["too many indices"]),
    ("index_tensor", lambda m: m.ones(3)[m.tensor([0, 3])], IndexError, ["3"]),
    ("index_select", lambda m: m.ones(3).index_select(0, m.tensor([4])), IndexError, ["index_select"]),
    ("gather_index", lambda m: m.ones(2, 3).gather(1, m.tensor([[0], [3]])), RuntimeError, ["gather", "3"]),
    ("mask_shape", lambda m: m.ones(3, 2)[m.ones(2, 2, dtype=m.bool)], IndexError, ["mask"]),
    # --- empty / degenerate
    ("max_empty", lambda m: m.ones(0).max(), RuntimeError, ["max"]),
    ("argmax_empty", lambda m: m.ones(0, 3).argmax(dim=0), IndexError, ["argmax"]),
    ("item_many", lambda m: m.ones(2).item(), RuntimeError, ["item", "2"]),
    ("bool_many", lambda m: bool(m.ones(2)), RuntimeError, ["ambiguous"]),
    ("negative_size", lambda m: m.zeros(-1), RuntimeError, ["negative", "-1"]),
    ("arange_zero_step", lambda m: m.arange(0, 5, 0), RuntimeError, ["step"]),
    ("randint_range", lambda m: m.randint(5, 2, (3,)), RuntimeError, ["randint"]),
    ("scalar_backward", lambda m: (m.ones(2, requires_grad=True) * 2).backward(), RuntimeError, ["scalar"]),
    # --- devices
    ("bad_device", lambda m: m.ones(2, device="tpu"), RuntimeError, ["tpu"]),
]


def _shape_pattern(shape):
    inner = ", ".join(str(s) for s in shape)
    parts = [re.escape(f"[{inner}]"), re.escape(f"({inner}{',' if len(shape) == 1 else ''})"), re.escape(f"({inner})")]
    if len(shape) > 1:
        parts.append(re.escape("x".join(str(s) for s in shape)))
    return "|".join(parts)


@pytest.mark.parametrize("name,fn,exc,words", CASES, ids=[c[0] for c in CASES])
def test_error(name, fn, exc, words):
    with pytest.raises(exc) as info:
        fn(dlcore)
    msg = str(info.value)
    for w in words:
        if isinstance(w, tuple):
            assert re.search(_shape_pattern(w), msg), f"shape {w} not named in {msg!r}"
        else:
            assert re.search(w, msg, flags=re.I), f"{w!r} not in {msg!r}"


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name,fn,exc,words", CASES, ids=[c[0] for c in CASES])
def test_torch_raises_the_same_type(name, fn, exc, words):
    """Guards the table itself: the expected exception types are torch's."""
    with pytest.raises(exc):
        fn(torch)


def _cuda_available():
    try:
        import dlcore.cuda

        return dlcore.cuda.is_available()
    except Exception:
        return False


@pytest.mark.skipif(_cuda_available(), reason="CUDA is available here")
@pytest.mark.parametrize(
    "fn",
    [
        lambda: dlcore.ones(2, device="cuda"),
        lambda: dlcore.ones(2).cuda(),
        lambda: dlcore.ones(2).to("cuda"),
        lambda: dlcore.tensor([1.0], device="cuda:0"),
        lambda: dlcore.zeros(2).to(dlcore.device("cuda")),
    ],
)
def test_cuda_without_gpu_raises_runtime_error(fn):
    with pytest.raises(RuntimeError, match="(?i)cuda"):
        fn()


def test_cuda_is_available_is_a_clean_bool():
    import dlcore.cuda

    assert isinstance(dlcore.cuda.is_available(), bool)


def test_mixing_devices_raises():
    if not _cuda_available():
        pytest.skip("needs CUDA")
    with pytest.raises(RuntimeError, match="device"):
        dlcore.ones(2) + dlcore.ones(2, device="cuda")


def test_errors_do_not_poison_later_calls():
    """After an error (and a would-be panic) the library keeps working."""
    for _ in range(3):
        with pytest.raises(RuntimeError):
            dlcore.ones(2, 3) @ dlcore.ones(4, 5)
    assert (dlcore.ones(2, 3) @ dlcore.ones(3, 1)).tolist() == [[3.0], [3.0]]


def test_error_in_backward_is_an_exception():
    from dlcore.autograd import Function

    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return dlcore.ones(7)  # wrong shape

    x = dlcore.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        Bad.apply(x).sum().backward()
    y = dlcore.ones(3, requires_grad=True)
    (y * 2).sum().backward()  # engine still usable
    assert y.grad.tolist() == [2.0, 2.0, 2.0]


def test_from_numpy_unsupported_dtype():
    with pytest.raises(TypeError):
        dlcore.from_numpy(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        dlcore.from_numpy(np.array([1 + 2j], dtype=np.complex64).astype(object))
