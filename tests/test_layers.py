"""Spec for d2l_bn.layers: our batch norm and dropout behave exactly like PyTorch's."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from d2l_bn.layers import (BatchNorm, Dropout, batch_mean_and_var, batch_norm,
                           batch_norm_backward, dropout_layer)

# (N, C), (N, C, L), (N, C, H, W); N=2 is the smallest legal training batch; odd sizes
# catch any axis mix-up; (2, 3, 1, 1) is a 1x1 feature map with two values per channel.
SHAPES = [(2, 3), (7, 5), (2, 4, 1), (3, 4, 5), (2, 3, 1, 1), (3, 2, 5, 7)]
MOMENTA = [0.1, 0.5, None]
# The configuration matrix runs in float64 so that it tests semantics, not rounding:
# with two values per channel the input gradient is a near-total cancellation, and in
# float32 the two implementations' rounding differs by ~1e-5 there. A float32 test
# on a typical shape below checks the default precision with default tolerances.
F64 = torch.float64


def make_pair(shape, dtype=torch.float32, **kwargs):
    """Our BatchNorm and PyTorch's for inputs of `shape`, with the same random gamma/beta."""
    C, num_dims = shape[1], len(shape)
    ours = BatchNorm(C, num_dims=num_dims, **kwargs).to(dtype)
    theirs = (nn.BatchNorm2d if num_dims == 4 else nn.BatchNorm1d)(C, **kwargs).to(dtype)
    if ours.affine:   # non-trivial gamma/beta, so the affine step is really tested
        with torch.no_grad():
            ours.weight.uniform_(0.5, 1.5)
            ours.bias.uniform_(-0.5, 0.5)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def step_both(ours, theirs, X):
    """One forward/backward through both layers; return (Y, X.grad) for each."""
    results = []
    for layer in (ours, theirs):
        X_leaf = X.clone().requires_grad_(True)
        Y = layer(X_leaf)
        weights = torch.linspace(-1, 1, Y.numel(), dtype=Y.dtype).reshape(Y.shape)
        (Y * weights).sum().backward()   # an uneven upstream gradient, not all ones
        results.append((Y.detach(), X_leaf.grad))
    return results


def assert_same_state(ours, theirs, grad_rtol=None):
    """Same buffers and parameter gradients. grad_rtol: for float32 sums over thousands
    of values per channel, whose summation order differs between implementations."""
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert_close(getattr(ours, name), getattr(theirs, name), msg=name)
    if ours.affine:
        tol = {} if grad_rtol is None else dict(rtol=grad_rtol, atol=1e-5)
        assert_close(ours.weight.grad, theirs.weight.grad, **tol)
        assert_close(ours.bias.grad, theirs.bias.grad, **tol)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", MOMENTA)
@pytest.mark.parametrize("affine,track", list(itertools.product([True, False], repeat=2)))
def test_scratch_bn_matches_pytorch_in_training_over_several_steps(shape, momentum, affine, track):
    torch.manual_seed(0)
    ours, theirs = make_pair(shape, F64, momentum=momentum, affine=affine, track_running_stats=track)
    for step in range(4):
        X = torch.randn(shape, dtype=F64) * (step + 1) + step   # the statistics move from step to step
        (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, X)
        assert_close(Y, Y_ref)
        assert_close(dX, dX_ref)
        assert_same_state(ours, theirs)
    if track:
        assert int(ours.num_batches_tracked) == 4


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", MOMENTA)
@pytest.mark.parametrize("affine,track", list(itertools.product([True, False], repeat=2)))
def test_scratch_bn_matches_pytorch_in_eval_after_training(shape, momentum, affine, track):
    torch.manual_seed(1)
    ours, theirs = make_pair(shape, F64, momentum=momentum, affine=affine, track_running_stats=track)
    for step in range(3):
        step_both(ours, theirs, torch.randn(shape, dtype=F64) * 2 + step)
    ours.eval(), theirs.eval()
    (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, torch.randn(shape, dtype=F64) + 3)
    assert_close(Y, Y_ref)
    assert_close(dX, dX_ref)
    assert_same_state(ours, theirs)


@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
def test_eps_is_added_to_the_variance_like_pytorch(eps):
    torch.manual_seed(2)
    ours, theirs = make_pair((4, 3, 2, 2), eps=eps)
    X = torch.randn(4, 3, 2, 2) * 0.01   # tiny variance: eps visibly changes the output
    (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, X)
    assert_close(Y, Y_ref)
    assert_close(dX, dX_ref)
    ours.eval(), theirs.eval()
    assert_close(ours(X), theirs(X))


def test_running_var_is_unbiased_while_normalisation_uses_biased_variance():
    X = torch.tensor([[1.0], [2.0], [3.0], [6.0]])   # mean 3, biased var 3.5, unbiased 14/3
    Y, new_mean, new_var = batch_norm(X, None, None, torch.zeros(1), torch.ones(1),
                                      eps=1e-5, momentum=1.0, training=True)
    assert_close(new_mean, torch.tensor([3.0]))
    assert_close(new_var, torch.tensor([14.0 / 3.0]))
    assert_close(Y, (X - 3.0) / torch.sqrt(torch.tensor(3.5 + 1e-5)))
    assert_close(Y.var(unbiased=False), torch.tensor(1.0), atol=1e-4, rtol=0)


def test_momentum_is_the_weight_of_the_new_batch():
    X = torch.tensor([[10.0], [20.0]])   # batch mean 15, unbiased var 50
    _, new_mean, new_var = batch_norm(X, None, None, torch.zeros(1), torch.ones(1),
                                      eps=1e-5, momentum=0.1, training=True)
    assert_close(new_mean, torch.tensor([0.9 * 0.0 + 0.1 * 15.0]))
    assert_close(new_var, torch.tensor([0.9 * 1.0 + 0.1 * 50.0]))


def test_momentum_none_gives_cumulative_average_of_batch_statistics():
    torch.manual_seed(3)
    bn = BatchNorm(3, num_dims=2, momentum=None)
    batches = [torch.randn(5, 3) * (k + 1) + k for k in range(4)]
    for X in batches:
        bn(X)
    assert_close(bn.running_mean, torch.stack([X.mean(0) for X in batches]).mean(0))
    assert_close(bn.running_var, torch.stack([X.var(0) for X in batches]).mean(0))


def test_batch_mean_and_var_are_per_channel_and_biased():
    X = torch.randn(3, 4, 5, 6)
    mean, var = batch_mean_and_var(X)
    assert_close(mean, X.mean(dim=(0, 2, 3)))
    assert_close(var, X.var(dim=(0, 2, 3), unbiased=False))


def test_batch_norm_function_accepts_d2l_broadcast_shapes():
    torch.manual_seed(4)
    X = torch.randn(4, 3, 2, 2)
    gamma, beta = torch.rand(1, 3, 1, 1) + 0.5, torch.randn(1, 3, 1, 1)
    mm, mv = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    Y, new_mm, new_mv = batch_norm(X, gamma, beta, mm, mv, 1e-5, 0.1, training=True)
    Y_flat, new_mm_flat, new_mv_flat = batch_norm(
        X, gamma.flatten(), beta.flatten(), mm.flatten(), mv.flatten(), 1e-5, 0.1, training=True)
    assert new_mm.shape == (1, 3, 1, 1) and new_mv.shape == (1, 3, 1, 1)
    assert_close(Y, Y_flat)
    assert_close(new_mm.flatten(), new_mm_flat)
    assert_close(new_mv.flatten(), new_mv_flat)


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 3, 2)])
def test_batch_norm_passes_gradcheck_in_training_mode_in_float64(shape):
    torch.manual_seed(5)
    X = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    gamma = (torch.rand(shape[1], dtype=torch.float64) + 0.5).requires_grad_(True)
    beta = torch.randn(shape[1], dtype=torch.float64, requires_grad=True)

    def forward(X, gamma, beta):
        return batch_norm(X, gamma, beta, torch.zeros(shape[1], dtype=torch.float64),
                          torch.ones(shape[1], dtype=torch.float64), 1e-5, 0.1, True)[0]

    assert torch.autograd.gradcheck(forward, (X, gamma, beta))


@pytest.mark.parametrize("shape", [(6, 4), (2, 3), (4, 3, 5), (3, 4, 5, 5), (2, 2, 1, 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_hand_derived_backward_equals_autograd(shape, affine):
    torch.manual_seed(6)
    eps = 1e-5
    X = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    C = shape[1]
    gamma = (torch.rand(C, dtype=torch.float64) + 0.5).requires_grad_(True) if affine else None
    beta = torch.randn(C, dtype=torch.float64, requires_grad=True) if affine else None
    Y, _, _ = batch_norm(X, gamma, beta, None, None, eps, 0.1, training=True)
    dY = torch.randn(shape, dtype=torch.float64)
    Y.backward(dY)

    mean, var = batch_mean_and_var(X.detach())
    bshape = (1, C) + (1,) * (len(shape) - 2)
    X_hat = (X.detach() - mean.reshape(bshape)) / torch.sqrt(var.reshape(bshape) + eps)
    dX, dgamma, dbeta = batch_norm_backward(dY, X_hat, None if gamma is None else gamma.detach(),
                                            var, eps)
    assert_close(dX, X.grad)
    if affine:
        assert_close(dgamma, gamma.grad)
        assert_close(dbeta, beta.grad)
    # BN's output ignores shifts of its input, so the gradient sums to zero per channel.
    dims = (0,) + tuple(range(2, len(shape)))
    assert_close(dX.sum(dim=dims), torch.zeros(C, dtype=torch.float64), atol=1e-10, rtol=0)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_raises_in_training_with_a_message_naming_the_fix(shape):
    bn = BatchNorm(3, num_dims=len(shape))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*use eval\(\) or a larger batch"
                                         r".*drop_last=True"):
        bn(torch.randn(shape))
    ref = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(3)
    with pytest.raises(ValueError):   # PyTorch refuses the same batch
        ref(torch.randn(shape))
    # The rejected batch leaves no trace (PyTorch would already have counted it).
    assert int(bn.num_batches_tracked) == 0
    assert_close(bn.running_mean, torch.zeros(3))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_works_in_eval_and_matches_pytorch(shape):
    torch.manual_seed(7)
    ours, theirs = make_pair(shape)
    train_shape = (4,) + shape[1:]
    step_both(ours, theirs, torch.randn(train_shape) + 1)
    ours.eval(), theirs.eval()
    X = torch.randn(shape)
    assert_close(ours(X), theirs(X))


def test_batch_of_one_image_with_spatial_extent_trains_like_pytorch():
    ours, theirs = make_pair((1, 3, 2, 2))   # N=1 but four values per channel: legal
    (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, torch.randn(1, 3, 2, 2))
    assert_close(Y, Y_ref)
    assert_close(dX, dX_ref)
    assert_same_state(ours, theirs)


def test_eval_mode_does_not_change_running_stats():
    torch.manual_seed(8)
    bn = BatchNorm(4, num_dims=4)
    bn(torch.randn(8, 4, 3, 3) + 2)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    bn.eval()
    for _ in range(3):
        bn(torch.randn(8, 4, 3, 3) * 5)
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_training_forward_under_no_grad_still_uses_batch_stats_and_updates_running_stats():
    # d2l's BatchNorm switches to running statistics when grad is disabled; PyTorch
    # (and we) let train()/eval() alone decide the mode.
    torch.manual_seed(9)
    ours, theirs = make_pair((6, 3, 4, 4))
    X = torch.randn(6, 3, 4, 4) * 3 + 1
    with torch.no_grad():
        Y, Y_ref = ours(X), theirs(X)
    assert_close(Y, Y_ref)
    mean, var = batch_mean_and_var(X)
    assert_close(Y.mean(dim=(0, 2, 3)), ours.bias.detach(), atol=1e-5, rtol=0)
    assert_close(ours.running_mean, 0.1 * mean)
    assert_close(ours.running_var, theirs.running_var)
    assert int(ours.num_batches_tracked) == 1


def test_running_stats_are_not_tracked_by_autograd():
    bn = BatchNorm(3, num_dims=2)
    X = torch.randn(5, 3, requires_grad=True)
    bn(X).sum().backward()
    for name in ("running_mean", "running_var"):
        buf = getattr(bn, name)
        assert not buf.requires_grad and buf.grad_fn is None, name


def test_state_dict_loads_into_pytorch_batchnorm2d_and_back():
    torch.manual_seed(10)
    ours, theirs = make_pair((4, 5, 3, 3))
    for _ in range(2):
        step_both(ours, theirs, torch.randn(4, 5, 3, 3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    fresh_theirs = nn.BatchNorm2d(5)
    fresh_theirs.load_state_dict(ours.state_dict())        # strict: keys and shapes match
    fresh_ours = BatchNorm(5, num_dims=4)
    fresh_ours.load_state_dict(theirs.state_dict())
    for module in (fresh_theirs, fresh_ours):
        for key, value in module.state_dict().items():
            assert_close(value, ours.state_dict()[key], msg=key)
    X = torch.randn(2, 5, 3, 3)
    for a, b in [(fresh_ours, theirs), (ours, fresh_theirs)]:
        a.eval(), b.eval()
        assert_close(a(X), b(X))


@pytest.mark.parametrize("affine,track", list(itertools.product([True, False], repeat=2)))
def test_state_dict_keys_match_pytorch_for_every_configuration(affine, track):
    ours = BatchNorm(3, num_dims=4, affine=affine, track_running_stats=track)
    theirs = nn.BatchNorm2d(3, affine=affine, track_running_stats=track)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_fresh_layer_starts_at_identity_statistics():
    bn = BatchNorm(4, num_dims=4)
    assert_close(bn.weight.detach(), torch.ones(4))
    assert_close(bn.bias.detach(), torch.zeros(4))
    assert_close(bn.running_mean, torch.zeros(4))
    assert_close(bn.running_var, torch.ones(4))
    assert bn.num_batches_tracked.dtype == torch.long and int(bn.num_batches_tracked) == 0


def test_gamma_and_beta_are_read_only_aliases_of_weight_and_bias():
    bn = BatchNorm(3, num_dims=2)
    assert bn.gamma is bn.weight and bn.beta is bn.bias
    with pytest.raises(AttributeError):
        bn.gamma = torch.zeros(3)   # change bn.weight instead


def test_affine_false_has_no_parameters_and_no_scale_or_shift():
    bn = BatchNorm(3, num_dims=2, affine=False)
    assert list(bn.parameters()) == []
    assert bn.gamma is None and bn.beta is None
    X = torch.randn(10, 3)
    mean, var = batch_mean_and_var(X)
    assert_close(bn(X), (X - mean) / torch.sqrt(var + bn.eps))


def test_track_running_stats_false_keeps_no_buffers_and_uses_batch_stats_in_eval():
    ours, theirs = make_pair((6, 3), track_running_stats=False)
    assert list(ours.buffers()) == []
    ours.eval(), theirs.eval()
    X = torch.randn(6, 3) * 4 + 2
    Y = ours(X)
    assert_close(Y, theirs(X))
    assert_close(Y.mean(0), ours.bias.detach(), atol=1e-5, rtol=0)   # batch-normalised


def test_reset_running_stats_returns_to_a_fresh_layer():
    bn = BatchNorm(3, num_dims=2)
    bn(torch.randn(4, 3) + 5)
    bn.reset_running_stats()
    assert_close(bn.running_mean, torch.zeros(3))
    assert_close(bn.running_var, torch.ones(3))
    assert int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize("momentum", MOMENTA)
def test_float32_layer_matches_pytorch_on_a_lenet_sized_batch(momentum):
    torch.manual_seed(14)
    ours, theirs = make_pair((32, 6, 12, 12), momentum=momentum)
    for step in range(3):
        (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, torch.randn(32, 6, 12, 12) * 2 + step)
        assert_close(Y, Y_ref)
        assert_close(dX, dX_ref)
        assert_same_state(ours, theirs, grad_rtol=2e-5)
    assert ours.running_mean.dtype == torch.float32
    ours.eval(), theirs.eval()
    X = torch.randn(8, 6, 12, 12)
    assert_close(ours(X), theirs(X))


@pytest.mark.parametrize("num_dims,shape", [(2, (4, 3, 5)), (4, (4, 3)), (3, (4, 3, 2, 2)), (4, (4, 5, 2, 2))])
def test_wrong_input_ndim_or_channel_count_raises_value_error(num_dims, shape):
    bn = BatchNorm(3, num_dims=num_dims)
    with pytest.raises(ValueError, match="expects"):
        bn(torch.randn(shape))


def test_batch_norm_function_rejects_unsupported_inputs():
    with pytest.raises(ValueError, match="2-D"):
        batch_norm(torch.randn(2, 3, 4, 5, 6), None, None, None, None, 1e-5, 0.1, True)
    with pytest.raises(ValueError, match="training=True"):
        batch_norm(torch.randn(2, 3), None, None, None, None, 1e-5, 0.1, training=False)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(torch.randn(2, 3), None, None, None, None, 1e-5, 1.5, True)


# (argument, value): every wrong type or non-finite value is a ValueError naming the argument.
BAD_EPS = [0.0, -1e-5, float("nan"), float("inf"), "1e-5", True, None, torch.tensor(1e-5)]
BAD_MOMENTUM = [1.5, -0.1, float("nan"), float("inf"), "a", True, torch.tensor(0.1)]


@pytest.mark.parametrize("name,value", [("num_dims", 5), ("num_dims", 1), ("num_dims", "4"), ("num_dims", True),
                                        ("num_dims", 4.0),
                                        ("num_features", 0), ("num_features", 3.0), ("num_features", "3"),
                                        ("num_features", True), ("num_features", None),
                                        ("affine", "no"), ("affine", None), ("track_running_stats", "yes")]
                         + [("eps", v) for v in BAD_EPS] + [("momentum", v) for v in BAD_MOMENTUM])
def test_invalid_constructor_arguments_raise_value_error_naming_the_argument(name, value):
    kwargs = dict(num_features=3, num_dims=4)
    kwargs[name] = value
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        BatchNorm(**kwargs)


@pytest.mark.parametrize("name,value", [("eps", v) for v in BAD_EPS] + [("momentum", v) for v in BAD_MOMENTUM]
                         + [("training", "False"), ("training", None), ("num_batches_tracked", 0),
                            ("num_batches_tracked", 1.0), ("num_batches_tracked", True)])
def test_batch_norm_function_rejects_bad_numbers_with_a_value_error_naming_them(name, value):
    kwargs = dict(eps=1e-5, momentum=None, training=True, num_batches_tracked=1)
    kwargs[name] = value
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        batch_norm(torch.randn(4, 3), None, None, torch.zeros(3), torch.ones(3), **kwargs)


def test_bad_eps_or_momentum_set_after_construction_is_caught_at_the_next_forward():
    bn = BatchNorm(3, num_dims=2)
    bn.eps = float("nan")   # would make every output NaN
    with pytest.raises(ValueError, match="^eps must be a finite number"):
        bn(torch.randn(4, 3))
    assert int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_non_floating_input_is_refused_with_a_message_asking_for_floating_point(dtype):
    X = torch.ones(4, 3, dtype=dtype)
    for call in (lambda: batch_norm(X, None, None, None, None, 1e-5, 0.1, True),
                 lambda: BatchNorm(3, num_dims=2)(X), lambda: batch_mean_and_var(X),
                 lambda: batch_norm_backward(X, torch.ones(4, 3), None, torch.ones(3), 1e-5)):
        with pytest.raises(ValueError, match=r"needs floating point input.*\.float\(\)"):
            call()


def test_an_input_without_channels_or_of_an_impossible_rank_gets_a_fix_that_exists():
    with pytest.raises(ValueError, match="at least one channel"):
        batch_norm(torch.randn(4, 0), None, None, None, None, 1e-5, 0.1, True)
    with pytest.raises(ValueError, match=r"expects a 2-D input, got shape \(5,\); reshape it to \(N, C\)"):
        BatchNorm(3, num_dims=2)(torch.randn(5))


def test_input_that_is_not_a_tensor_is_refused_with_the_conversion_to_use():
    for call in (lambda: batch_norm([[1.0, 2.0], [3.0, 4.0]], None, None, None, None, 1e-5, 0.1, True),
                 lambda: BatchNorm(2, num_dims=2)([[1.0, 2.0], [3.0, 4.0]])):
        with pytest.raises(ValueError, match=r"X must be a torch.Tensor, got list; use torch.as_tensor"):
            call()


@pytest.mark.parametrize("name", ["gamma", "beta", "moving_mean", "moving_var"])
@pytest.mark.parametrize("bad", [torch.ones(4), torch.ones(2, 3), 1.0, torch.ones(3, dtype=torch.long)])
def test_per_channel_arguments_of_the_wrong_size_type_or_dtype_are_refused(name, bad):
    args = dict(gamma=torch.ones(3), beta=torch.zeros(3), moving_mean=torch.zeros(3), moving_var=torch.ones(3))
    args[name] = bad
    with pytest.raises(ValueError, match=rf"^{name} must be None or a floating-point tensor with one value "
                                         rf"per channel \(3 channels"):
        batch_norm(torch.randn(4, 3), eps=1e-5, momentum=0.1, training=True, **args)


def test_backward_rejects_mismatched_shapes_and_bad_eps():
    X_hat, var = torch.randn(4, 3), torch.ones(3)
    with pytest.raises(ValueError, match=r"^dY must have the shape of the forward output X_hat \(4, 3\)"):
        batch_norm_backward(torch.ones(4, 2), X_hat, None, var, 1e-5)
    with pytest.raises(ValueError, match=r"^var must be a floating-point tensor with one value per channel"):
        batch_norm_backward(torch.ones(4, 3), X_hat, None, torch.ones(2), 1e-5)
    with pytest.raises(ValueError, match=r"^var must be"):
        batch_norm_backward(torch.ones(4, 3), X_hat, None, None, 1e-5)
    with pytest.raises(ValueError, match=r"^eps must be"):
        batch_norm_backward(torch.ones(4, 3), X_hat, None, var, float("nan"))


# ------------------------------------------------------ reduced precision (float16, bfloat16)
# float16's largest value is 65504: a deviation of 256 from the channel mean squares to
# inf. PyTorch computes BN statistics of half inputs in float32; so do we.
HALF_DTYPES = [torch.float16, torch.bfloat16]


def far_from_zero_batch(shape, dtype):
    """A batch whose values lie a few hundred away from the channel mean (std 200, mean 1000):
    the variance, 40,000, fits float16, but squares of deviations beyond 256 do not."""
    torch.manual_seed(15)
    return (torch.randn(shape) * 200 + 1000).to(dtype)


def ulps(dtype, magnitude):
    """Two units in the last place of `dtype` at `magnitude`: rounding the result to a half
    type (and reading half buffers in eval) may differ from PyTorch's by that much."""
    return 2 * torch.finfo(dtype).eps * float(torch.as_tensor(magnitude).detach())


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("shape", [(64, 3), (16, 3, 5, 5)])
@pytest.mark.parametrize("half_layer", [True, False], ids=["half_layer", "float32_layer"])
def test_half_precision_input_matches_pytorch_and_keeps_unit_variance(dtype, shape, half_layer):
    ours, theirs = make_pair(shape)
    if half_layer:   # .half()/.bfloat16(): parameters and buffers in the reduced type too
        ours, theirs = ours.to(dtype), theirs.to(dtype)
    X = far_from_zero_batch(shape, dtype)
    (Y, dX), (Y_ref, dX_ref) = step_both(ours, theirs, X)
    assert Y.dtype == dtype and dX.dtype == dtype
    dims = (0,) + tuple(range(2, len(shape)))
    # The claim: unit variance per channel before gamma/beta (not every output = beta).
    X_hat = (Y.float() - ours.bias.detach().float().reshape((1, -1) + (1,) * (len(shape) - 2))) \
        / ours.weight.detach().float().reshape((1, -1) + (1,) * (len(shape) - 2))
    assert_close(X_hat.var(dim=dims, unbiased=False), torch.ones(3), atol=0.02, rtol=0)
    assert torch.isfinite(ours.running_var).all()
    assert ours.running_var.dtype == theirs.running_var.dtype
    assert_close(Y.float(), Y_ref.float(), atol=ulps(dtype, Y_ref.float().abs().max()), rtol=0)
    assert_close(dX.float(), dX_ref.float(), atol=ulps(dtype, dX_ref.float().abs().max()), rtol=0)
    for name in ("running_mean", "running_var"):
        ref = getattr(theirs, name).float()
        assert_close(getattr(ours, name).float(), ref, atol=ulps(dtype, ref.abs().max()), rtol=0, msg=name)
    for ours_grad, ref_grad in [(ours.weight.grad, theirs.weight.grad), (ours.bias.grad, theirs.bias.grad)]:
        assert ours_grad.dtype == ref_grad.dtype
        assert_close(ours_grad.float(), ref_grad.float(), atol=ulps(dtype, ref_grad.float().abs().max()), rtol=0)
    ours.eval(), theirs.eval()
    Y, Y_ref = ours(X), theirs(X)
    assert Y.dtype == dtype
    assert_close(Y.float(), Y_ref.float(), atol=ulps(dtype, Y_ref.float().abs().max()), rtol=0)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_batch_norm_function_on_half_input_returns_its_dtype_and_float_statistics(dtype):
    X = far_from_zero_batch((32, 4), dtype)
    mean, var = batch_mean_and_var(X)
    assert mean.dtype == var.dtype == torch.float32
    assert_close(var, X.float().var(dim=0, unbiased=False))
    mm, mv = torch.zeros(4, dtype=dtype), torch.ones(4, dtype=dtype)
    Y, new_mm, new_mv = batch_norm(X, None, None, mm, mv, 1e-5, 1.0, training=True)
    assert Y.dtype == dtype and new_mm.dtype == new_mv.dtype == dtype   # the buffers' own dtype
    assert_close(new_mv.float(), X.float().var(dim=0), rtol=torch.finfo(dtype).eps, atol=0)
    assert_close(Y.float().var(dim=0, unbiased=False), torch.ones(4), atol=0.02, rtol=0)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_hand_derived_backward_on_half_input_is_reduced_in_float32(dtype):
    # 300 * 16 * 16 = 76,800 values per channel: their sum overflows float16's 65504.
    shape = (300, 2, 16, 16)
    X = far_from_zero_batch(shape, dtype)
    mean, var = batch_mean_and_var(X)
    X_hat = ((X.float() - mean.reshape(1, 2, 1, 1)) / torch.sqrt(var.reshape(1, 2, 1, 1) + 1e-5))
    dY = torch.ones(shape, dtype=dtype)
    gamma = torch.tensor([0.5, 2.0])
    dX, dgamma, dbeta = batch_norm_backward(dY, X_hat.to(dtype), gamma, var, 1e-5)
    ref_dX, ref_dgamma, ref_dbeta = batch_norm_backward(dY.double(), X_hat.to(dtype).double(), gamma.double(),
                                                        var.double(), 1e-5)
    assert dX.dtype == dtype and dgamma.dtype == dbeta.dtype == torch.float32
    assert_close(dbeta, torch.full((2,), 76_800.0))
    assert_close(dgamma.double(), ref_dgamma, rtol=1e-5, atol=1e-2)
    assert_close(dX.double(), ref_dX, atol=ulps(dtype, 1.0), rtol=0)


def test_extra_repr_reads_like_pytorch():
    assert repr(BatchNorm(6, num_dims=4)) == (
        "BatchNorm(6, num_dims=4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
    assert "momentum=None" in repr(BatchNorm(6, num_dims=2, momentum=None))


# ----------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_expectation(p):
    torch.manual_seed(11)
    X = torch.full((1000, 1000), 2.0)
    Y = dropout_layer(X, p)
    # Each element is 2/(1-p) with probability 1-p else 0: std 2*sqrt(p/(1-p)) per
    # element, so over 1e6 draws the mean's std is <= 0.004; 0.02 is 5 sigma.
    assert abs(Y.mean().item() - 2.0) < 0.02
    assert abs((Y == 0).float().mean().item() - p) < 0.005
    assert_close(Y[Y != 0], torch.full_like(Y[Y != 0], 2.0 / (1 - p)))


def test_dropout_extremes_return_input_or_zeros():
    X = torch.randn(4, 5)
    assert torch.equal(dropout_layer(X, 0.0), X)
    assert torch.equal(dropout_layer(X, 1.0), torch.zeros_like(X))


@pytest.mark.parametrize("p", [-0.1, 1.1, 2.0])
def test_dropout_probability_outside_unit_interval_raises(p):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dropout_layer(torch.ones(3), p)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Dropout(p)


def test_dropout_module_drops_in_training_and_is_identity_in_eval():
    torch.manual_seed(12)
    layer = Dropout(0.5)
    X = torch.randn(100, 100)
    assert (layer(X) == 0).any()
    layer.eval()
    assert torch.equal(layer(X), X)
    assert repr(layer) == "Dropout(p=0.5)"


def test_dropout_gradient_flows_only_through_kept_units():
    torch.manual_seed(13)
    X = torch.randn(50, 50, requires_grad=True)
    Y = dropout_layer(X, 0.3)
    Y.sum().backward()
    kept = Y.detach() != 0
    assert_close(X.grad[kept], torch.full_like(X.grad[kept], 1 / 0.7))
    assert (X.grad[~kept] == 0).all()
