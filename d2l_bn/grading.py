"""Checks for the graded exercises (``exercises/``): compare a student's result with a reference, say what to fix.

The test cells of the exercise notebooks call these, so they stay short. A failed check raises `ExerciseFailure`
with a message that names the likely mistake, CS231n style: the relative error, then what to look at. For batch
norm the known mistakes are computed too (``bn_*_mistakes``), so a wrong answer that matches one of them is named
("statistics over axes (0,) but a 4-D input needs (0, 2, 3)"). Nothing here imports nbgrader: the checks run
wherever the student's notebook runs (JupyterLab, Colab).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable, Iterable, Optional

import torch
from torch import Tensor

LIBRARIES = ("torch", "d2l_bn")   # where a student's answer must not come from


class ExerciseFailure(AssertionError):
    """A check of an exercise failed; the message says what is wrong and what to try."""


def check(condition: Any, message: str) -> None:
    """Fail with `message` unless `condition` holds."""
    __tracebackhide__ = True
    if not condition:
        raise ExerciseFailure(message)


def rel_error(actual: Tensor, expected: Tensor) -> float:
    """max |a - e| / max(|e|, 1) over the entries: relative for large values, absolute for those below 1.

    (CS231n divides by |a| + |e| entry by entry, which blows up at entries that should be 0.)
    """
    if expected.numel() == 0:
        return 0.0
    actual, expected = actual.detach().double(), expected.detach().double()
    return ((actual - expected).abs() / expected.abs().clamp(min=1.0)).max().item()


def default_tolerance(dtype: torch.dtype) -> float:
    """Error a correct answer stays below: float64 rounds at ~1e-16, float32 at ~1e-7 per operation."""
    return 1e-9 if dtype == torch.float64 else 1e-4


def check_tensor(actual: Any, what: str, shape: Optional[tuple] = None,
                 dtype: Optional[torch.dtype] = None, hint: str = "") -> Tensor:
    """Fail unless `actual` is a finite tensor of the given shape and dtype; return it."""
    __tracebackhide__ = True
    if actual is None:
        raise ExerciseFailure(f"{what} returned None: did you forget `return`?")
    if not isinstance(actual, Tensor):
        raise ExerciseFailure(f"{what} returned a {type(actual).__name__}, expected a torch.Tensor")
    if shape is not None and tuple(actual.shape) != tuple(shape):
        raise ExerciseFailure(f"{what} returned shape {tuple(actual.shape)}, expected {tuple(shape)}. {hint}".strip())
    if dtype is not None and actual.dtype != dtype:
        raise ExerciseFailure(f"{what} returned {actual.dtype} for {dtype} inputs: keep the input's dtype "
                              f"(make new tensors with dtype=X.dtype, or with zeros_like/ones_like)")
    if actual.is_floating_point() and not torch.isfinite(actual).all():
        bad = int((~torch.isfinite(actual)).sum())
        raise ExerciseFailure(f"{what} returned nan or inf in {bad} of {actual.numel()} entries. {hint}".strip())
    return actual


def check_close(actual: Any, expected: Tensor, what: str, *, tol: Optional[float] = None,
                mistakes: Optional[dict[str, Tensor]] = None, hint: str = "") -> None:
    """Fail unless `actual` matches `expected` to a relative error `tol` (default: by dtype).

    `mistakes` maps a message to the result a known wrong implementation gives on the same input: when the
    answer matches one of them, that message is the failure (the first that matches, in order).
    """
    __tracebackhide__ = True
    tol = default_tolerance(expected.dtype) if tol is None else tol
    mistakes = mistakes or {}
    if isinstance(actual, Tensor) and tuple(actual.shape) != tuple(expected.shape):
        for message, wrong in mistakes.items():
            if tuple(wrong.shape) == tuple(actual.shape) and rel_error(actual, wrong) <= max(tol, 1e-5):
                raise ExerciseFailure(f"{what}: {message}")
    check_tensor(actual, what, shape=expected.shape, dtype=expected.dtype, hint=hint)
    error = rel_error(actual, expected)
    if error <= tol:
        return
    for message, wrong in mistakes.items():
        if tuple(wrong.shape) == tuple(actual.shape) and rel_error(actual, wrong) <= max(tol, 1e-5):
            raise ExerciseFailure(f"{what}: {message}")
    raise ExerciseFailure(f"{what}: max error {error:.1e}, relative where |expected| > 1 (a correct answer stays "
                          f"below {tol:.0e}). {hint}".strip())


def run(what: str, function: Callable, *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """Call the student's function; an exception becomes a failure that says which call raised it, and why."""
    __tracebackhide__ = True
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseFailure(f"{what}: not implemented yet (replace `raise NotImplementedError()` by your "
                              f"code)") from None
    except Exception as error:
        raise ExerciseFailure(f"{what} raised {type(error).__name__}: {error}. {hint}".strip()) from error


def check_returns(result: Any, names: tuple[str, ...], what: str) -> tuple:
    """Fail unless `result` is a tuple of len(names) values (e.g. ("dX", "dgamma", "dbeta")); return it."""
    __tracebackhide__ = True
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
        raise ExerciseFailure(f"{what} must return {len(names)} values ({', '.join(names)}), got {got}")
    return tuple(result)


def _library_object(node: ast.AST, namespace: dict) -> Any:
    """The object a dotted name (F.batch_norm, torch.nn.functional.dropout) refers to, if it resolves."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in namespace:
        return None
    obj = namespace[node.id]
    for part in reversed(parts):
        obj = getattr(obj, part, None)
    return obj


def _from_library(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "") or ""
    return str(module).split(".")[0] in LIBRARIES


def check_own_code(solution: Callable, forbidden: Iterable[str] = (), forbidden_methods: Iterable[str] = ()) -> None:
    """Fail if `solution` was imported, or calls a library function that does the exercise for the student.

    forbidden: names of torch/d2l_bn functions and classes (F.batch_norm, nn.BatchNorm2d ...) it may not use;
    forbidden_methods: method names it may not call on anything (backward, requires_grad_ ...).
    Functions defined in a notebook live in ``__main__``; their source is read back from the kernel.
    """
    __tracebackhide__ = True
    name = getattr(solution, "__name__", repr(solution))
    check(getattr(solution, "__module__", "__main__") == "__main__",
          f"{name} comes from {solution.__module__}: the exercise is to write it yourself in this notebook")
    functions = ([f for f in vars(solution).values() if inspect.isfunction(f)] if inspect.isclass(solution)
                 else [solution])
    forbidden, forbidden_methods = set(forbidden), set(forbidden_methods)
    for function in functions:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError, SyntaxError):   # source not available: nothing to inspect
            continue
        namespace = function.__globals__
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                check(not any(m.split(".")[0] == "d2l_bn" for m in modules),
                      f"{name} imports from d2l_bn, which holds the course's answers: write the code yourself")
            if isinstance(node, ast.Attribute) and node.attr in forbidden_methods:
                raise ExerciseFailure(f"{name} uses `.{node.attr}`: the exercise is to compute this by hand")
            if isinstance(node, (ast.Name, ast.Attribute)):
                obj = _library_object(node, namespace)
                if obj is not None and getattr(obj, "__name__", None) in forbidden and _from_library(obj):
                    raise ExerciseFailure(f"{name} uses `{ast.unparse(node)}`, which does the exercise for you: "
                                          f"write it from elementary tensor operations")


def numerical_gradient(f: Callable[[Tensor], Tensor], X: Tensor, dY: Tensor, h: float = 1e-6) -> Tensor:
    """Central-difference gradient of sum(f(X) * dY) with respect to X (use float64), as CS231n checks."""
    X = X.detach().clone()
    grad = torch.zeros_like(X)
    flat, flat_grad = X.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        plus = (f(X) * dY).sum().item()
        flat[i] = old - h
        minus = (f(X) * dY).sum().item()
        flat[i] = old
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


# ----- the classic mistakes of batch norm, computed on the test's own input ---------------------------------------

def _stats(X: Tensor, dims: tuple[int, ...], unbiased: bool = False) -> tuple[Tensor, Tensor]:
    mean = X.mean(dim=dims, keepdim=True)
    n = X.numel() // mean.numel()
    var = ((X - mean) ** 2).sum(dim=dims, keepdim=True) / (n - 1 if unbiased else n)
    return mean, var


def _channel(v: Tensor, X: Tensor) -> Tensor:
    return v.reshape((1, -1) + (1,) * (X.dim() - 2))


def _right_axes(X: Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, X.dim()))


AXES_4D = "statistics over axes (0,) but a 4-D input needs (0, 2, 3): a channel pools the batch AND every position"


def bn_forward_mistakes(X: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> dict[str, Tensor]:
    """What training-mode batch norm returns with each classic mistake, keyed by the message to show."""
    def bn(dims, unbiased=False, eps_outside=False, affine_last_axis=False):
        mean, var = _stats(X, dims, unbiased)
        X_hat = (X - mean) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt())
        if affine_last_axis:
            return gamma * X_hat + beta
        return _channel(gamma, X) * X_hat + _channel(beta, X)

    right = _right_axes(X)
    mistakes = {}
    if X.dim() == 4:
        mistakes[AXES_4D] = bn((0,))
        mistakes["statistics over axes (2, 3), one example at a time (instance norm); BN needs (0, 2, 3)"] = bn((2, 3))
        if X.shape[-1] == X.shape[1]:
            mistakes["gamma and beta of shape (C,) broadcast along the LAST axis (W); reshape them to "
                     "(1, C, 1, 1) so they act on the channel axis"] = bn(right, affine_last_axis=True)
    mistakes["normalised with the unbiased variance (divide by n - 1); BN normalises with the biased one "
             "(divide by n): X.var(dim, unbiased=False) or ((X - mean)**2).mean(dim)"] = bn(right, unbiased=True)
    mistakes["eps goes inside the square root: (X - mean) / sqrt(var + eps)"] = bn(right, eps_outside=True)
    mean, var = _stats(X, right)
    mistakes["gamma scales and beta shifts: gamma * X_hat + beta"] = (
        _channel(beta, X) * (X - mean) / (var + eps).sqrt() + _channel(gamma, X))
    return mistakes


def bn_eval_mistakes(X: Tensor, gamma: Tensor, beta: Tensor, running_mean: Tensor, running_var: Tensor,
                     eps: float) -> dict[str, Tensor]:
    """What prediction-mode batch norm returns with each classic mistake, keyed by the message to show."""
    def bn(mean, var, shape, sqrt=True):
        scale = (var.reshape(shape) + eps).sqrt() if sqrt else var.reshape(shape) + eps
        return gamma.reshape(shape) * (X - mean.reshape(shape)) / scale + beta.reshape(shape)

    channel = (1, -1) + (1,) * (X.dim() - 2)
    mistakes = {"divide by the standard deviation sqrt(running_var + eps), not by the variance":
                    bn(running_mean, running_var, channel, sqrt=False)}
    if X.dim() == 4 and X.shape[-1] == X.shape[1]:
        mistakes["per-channel vectors of shape (C,) broadcast along the LAST axis (W); reshape them to "
                 "(1, C, 1, 1)"] = bn(running_mean, running_var, (-1,))
    if X.numel() > X.shape[1]:
        mean, var = _stats(X, _right_axes(X))
        mistakes["used the statistics of the batch; in prediction mode normalise with running_mean and "
                 "running_var"] = bn(mean, var, channel)
    return mistakes


MOMENTUM_OLD = ("momentum weighted the OLD value; in PyTorch momentum is the weight of the NEW batch statistic: "
                "new = (1 - momentum) * running + momentum * batch")


def bn_running_stats_mistakes(running_mean: Tensor, running_var: Tensor, X: Tensor,
                              momentum: float) -> dict[str, dict[str, Tensor]]:
    """Classic mistakes of the running-statistics update: {"mean": {message: result}, "var": {...}}."""
    def update(old, new, m=momentum, keras=False):
        return m * old + (1 - m) * new if keras else (1 - m) * old + m * new

    right = _right_axes(X)
    mean, var_u = (s.flatten() for s in _stats(X, right, unbiased=True))
    var_b = _stats(X, right)[1].flatten()
    mistakes: dict[str, dict[str, Tensor]] = {"mean": {}, "var": {}}
    mistakes["mean"][MOMENTUM_OLD] = update(running_mean, mean, keras=True)
    mistakes["var"][MOMENTUM_OLD] = update(running_var, var_u, keras=True)
    mistakes["var"]["the running variance stores the UNBIASED batch variance, n/(n-1) times the biased one "
                    "(n = values per channel)"] = update(running_var, var_b)
    if X.dim() == 4:
        N = X.shape[0]
        mistakes["var"]["n counts every value of a channel, N*H*W for a 4-D input (not N), in n/(n-1)"] = (
            update(running_var, var_b * N / (N - 1)))
        m0, v0 = _stats(X, (0,), unbiased=True)
        mistakes["mean"][AXES_4D] = update(running_mean.reshape(-1, 1, 1), m0[0])
        mistakes["var"][AXES_4D] = update(running_var.reshape(-1, 1, 1), v0[0])
    return mistakes


def bn_backward_mistakes(dY: Tensor, X: Tensor, gamma: Tensor, eps: float) -> dict[str, dict[str, Tensor]]:
    """Classic mistakes of the hand-derived backward pass: {"dX" | "dgamma" | "dbeta": {message: result}}."""
    def backward(dims, unbiased=False, direct_only=False, dgamma_from_X=False):
        mean, var = _stats(X, dims, unbiased)
        sigma = (var + eps).sqrt()
        X_hat = (X - mean) / sigma
        dX_hat = dY * _channel(gamma, X)
        if direct_only:
            dX = dX_hat / sigma
        else:
            dX = (dX_hat - dX_hat.mean(dim=dims, keepdim=True)
                  - X_hat * (dX_hat * X_hat).mean(dim=dims, keepdim=True)) / sigma
        dgamma = (dY * (X if dgamma_from_X else X_hat)).sum(dim=dims)
        return {"dX": dX, "dgamma": dgamma, "dbeta": dY.sum(dim=dims)}

    right = _right_axes(X)
    correct = backward(right)
    cases = {
        "dX only follows the direct path dY * gamma / sigma; the batch mean and variance depend on every input "
        "too: add the gradient that flows through each of them (chapter 04, the backward pass by hand)":
            backward(right, direct_only=True),
        "used the unbiased variance; the forward pass normalises with the biased one (divide by n)":
            backward(right, unbiased=True),
        "dgamma multiplies dY by the NORMALISED input X_hat, not by X": backward(right, dgamma_from_X=True),
    }
    if X.dim() == 4:
        cases[AXES_4D.replace("statistics", "sums and means")] = backward((0,))
    mistakes: dict[str, dict[str, Tensor]] = {"dX": {}, "dgamma": {}, "dbeta": {}}
    for message, grads in cases.items():
        for key, value in grads.items():        # only where the mistake shows (dgamma from X leaves dX right)
            if value.shape != correct[key].shape or rel_error(value, correct[key]) > 1e-12:
                mistakes[key][message] = value
    return mistakes


def group_norm_mistakes(X: Tensor, num_groups: int, gamma: Tensor, beta: Tensor,
                        eps: float) -> dict[str, Tensor]:
    """What GroupNorm returns with each classic mistake, keyed by the message to show."""
    N, C = X.shape[:2]

    def gn(view, dims, unbiased=False):
        Xg = X.reshape(view)
        mean, var = _stats(Xg, dims, unbiased)
        return _channel(gamma, X) * ((Xg - mean) / (var + eps).sqrt()).reshape(X.shape) + _channel(beta, X)

    grouped = (N, num_groups, C // num_groups, -1)
    return {
        "the statistics mix the examples of the batch (that is BN); GroupNorm normalises each example on its own: "
        "average over axes (2, 3, 4) of the (N, G, C // G, H, W) view, never over axis 0": gn(grouped, (0, 2, 3)),
        "a group is C // G CONSECUTIVE channels: reshape to (N, G, C // G, H, W), not (N, C // G, G, H, W)":
            gn((N, C // num_groups, num_groups, -1), (1, 3)),
        "normalised with the unbiased variance (divide by n - 1); normalise with the biased one (divide by n)":
            gn(grouped, (2, 3), unbiased=True),
    }
