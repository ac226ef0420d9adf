"""The checks behind the exercises' test cells (d2l_bn.grading): they pass right answers, fail wrong ones, and
name the mistake only when the answer really is that mistake."""
from __future__ import annotations

import linecache

import pytest
import torch
import torch.nn.functional as F

from d2l_bn import grading
from d2l_bn.grading import ExerciseFailure

G = torch.Generator().manual_seed(0)
X2 = torch.randn(8, 3, generator=G, dtype=torch.float64) * 2 + 1
X4 = torch.randn(4, 3, 5, 5, generator=G, dtype=torch.float64) * 2 + 1
X4_SQUARE = torch.randn(2, 3, 4, 3, generator=G, dtype=torch.float64) + 1    # W == C
GAMMA = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
BETA = torch.tensor([0.0, -1.0, 3.0], dtype=torch.float64)
MEAN = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
VAR = torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64)


def notebook_function(source: str, name: str, namespace: dict | None = None):
    """Define `name` as a notebook cell does: in __main__, with its source readable by inspect."""
    filename = f"<cell-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "__main__", "torch": torch, "F": F, **(namespace or {})}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def test_check_close_passes_a_right_answer_and_reports_the_error_of_a_wrong_one():
    grading.check_close(X2 + 1e-12, X2, "x")
    with pytest.raises(ExerciseFailure, match=r"x: max error 1\.0e-01, .*look here"):
        grading.check_close(X2 + 0.1, X2, "x", hint="look here")


def test_check_close_names_the_mistake_the_answer_matches_and_only_that_one():
    mistakes = {"doubled": 2 * X2, "shifted": X2 + 1}
    with pytest.raises(ExerciseFailure, match="x: shifted"):
        grading.check_close(X2 + 1, X2, "x", mistakes=mistakes)
    with pytest.raises(ExerciseFailure, match="max error"):
        grading.check_close(X2 + 5, X2, "x", mistakes=mistakes)
    with pytest.raises(ExerciseFailure, match="x: summed"):          # a wrong shape can be a known mistake too
        grading.check_close(X2.sum(0), X2, "x", mistakes={"summed": X2.sum(0)})


@pytest.mark.parametrize("answer,words", [(None, "did you forget `return`"), (3.0, "returned a float"),
                                          (torch.zeros(3), "shape"), (torch.zeros(8, 3), "keep the input's dtype"),
                                          (torch.full((8, 3), float("nan"), dtype=torch.float64), "nan or inf")])
def test_check_close_says_what_kind_of_thing_is_wrong(answer, words):
    with pytest.raises(ExerciseFailure, match=words):
        grading.check_close(answer, X2, "x")


def test_run_says_which_call_failed_and_that_a_stub_is_not_implemented_yet():
    def stub():
        raise NotImplementedError()

    with pytest.raises(ExerciseFailure, match="f\\(\\): not implemented yet"):
        grading.run("f()", stub)
    with pytest.raises(ExerciseFailure, match="f\\(\\) raised ZeroDivisionError: .*hint"):
        grading.run("f()", lambda: 1 / 0, hint="hint")
    assert grading.run("f()", lambda a, b=0: a + b, 1, b=2) == 3


def test_check_own_code_accepts_tensor_code_and_the_students_own_helpers():
    helper = notebook_function("def log_softmax(X):\n    return X - X.logsumexp(-1, keepdim=True)\n",
                               "log_softmax")
    answer = notebook_function("def cross_entropy(Z, y):\n    return -log_softmax(Z)[torch.arange(len(y)), y]\n",
                               "cross_entropy", {"log_softmax": helper})
    grading.check_own_code(answer, forbidden={"log_softmax", "cross_entropy"})


@pytest.mark.parametrize("source,words", [
    ("def f(X):\n    return F.log_softmax(X, dim=-1)\n", "uses `F.log_softmax`"),
    ("def f(X):\n    return torch.nn.functional.log_softmax(X, dim=-1)\n", "uses `torch.nn.functional.log_softmax`"),
    ("def f(X):\n    from d2l_bn.losses import log_softmax\n    return log_softmax(X)\n", "imports from d2l_bn"),
    ("def f(X):\n    X.requires_grad_()\n    return X\n", "by hand"),
])
def test_check_own_code_catches_the_library_doing_the_exercise(source, words):
    with pytest.raises(ExerciseFailure, match=words):
        grading.check_own_code(notebook_function(source, "f"), forbidden={"log_softmax"},
                               forbidden_methods={"requires_grad_"})


def test_check_own_code_catches_an_imported_answer():
    from d2l_bn.losses import log_softmax
    with pytest.raises(ExerciseFailure, match="comes from d2l_bn.losses"):
        grading.check_own_code(log_softmax)


def test_numerical_gradient_agrees_with_autograd():
    X = torch.randn(4, 3, generator=G, dtype=torch.float64)
    dY = torch.randn(4, 3, generator=G, dtype=torch.float64)
    Xg = X.clone().requires_grad_()
    (torch.tanh(Xg) * Xg).backward(dY)
    torch.testing.assert_close(grading.numerical_gradient(lambda Z: torch.tanh(Z) * Z, X, dY), Xg.grad)


# The catalogues of classic mistakes: every entry differs clearly from the right answer on the exercises' inputs,
# so a right answer is never told it made one.

def far_from(right, wrong, name):
    # 100 times the float64 tolerance: a right float64 answer cannot be taken for this mistake
    assert wrong.shape != right.shape or grading.rel_error(wrong, right) > 100 * grading.default_tolerance(
        torch.float64), name


@pytest.mark.parametrize("X", [X2, X4, X4_SQUARE], ids=["2-D", "4-D", "4-D W == C"])
def test_every_forward_mistake_differs_from_batch_norm(X):
    right = F.batch_norm(X, None, None, GAMMA, BETA, training=True, eps=1e-5)
    mistakes = grading.bn_forward_mistakes(X, GAMMA, BETA, 1e-5)
    assert (grading.AXES_4D in mistakes) == (X.dim() == 4)
    for message, wrong in mistakes.items():
        far_from(right, wrong, message)


@pytest.mark.parametrize("X", [X2, X4_SQUARE, X4_SQUARE[:1]], ids=["2-D", "4-D W == C", "one image"])
def test_every_eval_mistake_differs_from_batch_norm_in_eval(X):
    right = F.batch_norm(X, MEAN, VAR, GAMMA, BETA, training=False, eps=1e-5)
    for message, wrong in grading.bn_eval_mistakes(X, GAMMA, BETA, MEAN, VAR, 1e-5).items():
        far_from(right, wrong, message)


@pytest.mark.parametrize("X,momentum", [(X2, 0.1), (X4, 0.1), (X4_SQUARE, 0.3)])
def test_every_running_statistics_mistake_differs_from_pytorchs_buffers(X, momentum):
    layer = (torch.nn.BatchNorm1d if X.dim() == 2 else torch.nn.BatchNorm2d)(3, momentum=momentum).double()
    layer.running_mean.copy_(MEAN)
    layer.running_var.copy_(VAR)
    layer.train()(X)
    mistakes = grading.bn_running_stats_mistakes(MEAN, VAR, X, momentum)
    assert grading.MOMENTUM_OLD in mistakes["mean"] and grading.MOMENTUM_OLD in mistakes["var"]
    for key, right in (("mean", layer.running_mean), ("var", layer.running_var)):
        for message, wrong in mistakes[key].items():
            far_from(right, wrong, message)


@pytest.mark.parametrize("X", [X2, X4, X4_SQUARE], ids=["2-D", "4-D", "4-D W == C"])
def test_every_backward_mistake_differs_from_autograd(X):
    dY = torch.randn(X.shape, generator=G, dtype=torch.float64)
    Xg, gamma, beta = X.clone().requires_grad_(), GAMMA.clone().requires_grad_(), BETA.clone().requires_grad_()
    right = dict(zip(("dX", "dgamma", "dbeta"), torch.autograd.grad(
        F.batch_norm(Xg, None, None, gamma, beta, training=True, eps=1e-5), (Xg, gamma, beta), dY)))
    mistakes = grading.bn_backward_mistakes(dY, X, GAMMA, 1e-5)
    for message, wrong in mistakes["dX"].items():
        far_from(right["dX"], wrong, message)
    only_4d = [grading.AXES_4D.replace("statistics", "sums and means")] if X.dim() == 4 else []
    assert list(mistakes["dbeta"]) == only_4d, "dbeta = sum(dY) goes wrong only with the wrong axes"
    for key in ("dgamma", "dbeta"):
        for message, wrong in mistakes[key].items():
            far_from(right[key], wrong, message)


@pytest.mark.parametrize("groups", [2, 3])
def test_every_group_norm_mistake_differs_from_group_norm(groups):
    X = torch.randn(4, 6, 5, 5, generator=G, dtype=torch.float64) * 2 + 1
    gamma, beta = torch.linspace(0.5, 2.0, 6, dtype=torch.float64), torch.linspace(-1, 1, 6, dtype=torch.float64)
    right = F.group_norm(X, groups, gamma, beta)
    for message, wrong in grading.group_norm_mistakes(X, groups, gamma, beta, 1e-5).items():
        far_from(right, wrong, message)
