"""The graded exercises (exercises/, nbgrader) grade for real.

One build and one grading run, in a temporary course directory, serve the four checks the course promises:
(1) the instructor's notebooks score full marks on every test cell; (2) the student versions, unchanged, score 0
on every test cell; (3) for BN's forward pass, running statistics and backward pass, each classic mistake,
substituted into the solution region, fails its test cell with a message that names it (and nothing else fails);
(4) no solution text and no hidden check reaches the student version. Besides: right answers written otherwise
than the instructor's score full marks, and an answer that calls the PyTorch function doing the exercise, or
imports the course's own answer, fails the hidden checks.
"""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest

from d2l_bn import exercises
from d2l_bn.colab import SETUP_MARK, repository_url, setup_cell_source
from d2l_bn.notebook_format import normalized

ROOT = Path(__file__).resolve().parents[1]
SOURCES = exercises.source_notebooks()
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
BN = "04_batch_norm_theory"

# Lines of each chapter's answers that must never reach a student ("a few distinctive lines").
DISTINCTIVE = {
    "01_softmax_regression": "return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))",
    "02_minibatch_sgd": "sgd(net.parameters(), lr, len(y))",
    "03_dropout": "mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)",
    BN: "- X_hat * (dX_hat * X_hat).mean(dim=dims, keepdim=True)) / sigma",
    "05_lenet_batch_norm": "nn.Linear(16 * 4 * 4, 120, bias=False), nn.BatchNorm1d(120), nn.Sigmoid(),",
    "06_batch_norm_in_practice": "Xg = X.reshape(N, num_groups, C // num_groups, H, W)",
}

# The classic mistakes of chapter 04's exercises, each written as a student would, one per exercise per student.
# {student: {solution cell: (wrong answer, test cell that must fail, words its message must contain)}}
FORWARD = """
dims = {dims}
shape = (1, -1) if X.dim() == 2 else (1, -1, 1, 1)
mean = X.mean(dim=dims, keepdim=True)
var = {var}
return gamma.reshape(shape) * (X - mean) / torch.sqrt(var + eps) + beta.reshape(shape)
"""
RUNNING = """
dims = {dims}
with torch.no_grad():
    mean, var = X.mean(dim=dims), X.var(dim=dims, unbiased={unbiased})
    return {update}
"""
BACKWARD = """
dims = {dims}
shape = (1, -1) if X.dim() == 2 else (1, -1, 1, 1)
mean = X.mean(dim=dims, keepdim=True)
var = {var}
sigma = torch.sqrt(var + eps)
X_hat = (X - mean) / sigma
dX_hat = dY * gamma.reshape(shape)
dX = {dX}
return dX, (dY * X_hat).sum(dim=dims), dY.sum(dim=dims)
"""
RIGHT_DIMS = "(0,) if X.dim() == 2 else (0, 2, 3)"
BIASED = "((X - mean) ** 2).mean(dim=dims, keepdim=True)"
UNBIASED = "X.var(dim=dims, keepdim=True)                 # n - 1"
FULL_DX = ("(dX_hat - dX_hat.mean(dim=dims, keepdim=True)\n"
           "      - X_hat * (dX_hat * X_hat).mean(dim=dims, keepdim=True)) / sigma")
AUTOGRAD = """
X, gamma = X.detach().requires_grad_(), gamma.detach().requires_grad_()
beta = torch.zeros_like(gamma).requires_grad_()
batch_norm_train(X, gamma, beta, eps).backward(dY)
return X.grad, gamma.grad, beta.grad
"""
PYTORCH_UPDATE = "(1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var"
OLD_MOMENTUM = "momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var"
MISTAKES = {
    "mistake_unbiased_old_momentum": {
        "batch_norm_train": (FORWARD.format(dims=RIGHT_DIMS, var=UNBIASED), "test_batch_norm_train",
                             "unbiased variance"),
        "update_running_stats": (RUNNING.format(dims=RIGHT_DIMS, unbiased=True, update=OLD_MOMENTUM),
                                 "test_update_running_stats", "momentum weighted the OLD value"),
        "batch_norm_backward": (BACKWARD.format(dims=RIGHT_DIMS, var=UNBIASED, dX=FULL_DX),
                                "test_batch_norm_backward", "unbiased variance"),
    },
    "mistake_axes": {
        "batch_norm_train": (FORWARD.format(dims="(0,)", var=BIASED), "test_batch_norm_train", "(0, 2, 3)"),
        "update_running_stats": (RUNNING.format(dims="(0,)", unbiased=True, update=PYTORCH_UPDATE),
                                 "test_update_running_stats", "(0, 2, 3)"),
        "batch_norm_backward": (BACKWARD.format(dims="(0,)", var=BIASED, dX=FULL_DX), "test_batch_norm_backward",
                                "(0, 2, 3)"),
    },
    "mistake_biased_running_var_direct_path": {
        "update_running_stats": (RUNNING.format(dims=RIGHT_DIMS, unbiased=False, update=PYTORCH_UPDATE),
                                 "test_update_running_stats", "UNBIASED batch variance"),
        "batch_norm_backward": (BACKWARD.format(dims=RIGHT_DIMS, var=BIASED, dX="dX_hat / sigma"),
                                "test_batch_norm_backward", "direct path"),
    },
}
# Answers that let the library do the exercise: the hidden checks must catch them in the kernel, where the
# student's function is read back from its cell. {chapter: {solution cell: (answer, test cell, words)}}
CHEATS = {
    "01_softmax_regression": {
        "log_softmax": ("return F.log_softmax(X, dim=-1)", "test_log_softmax", "uses `F.log_softmax`")},
    "03_dropout": {
        "dropout_layer": ("from d2l_bn.layers import dropout_layer as answer\nreturn answer(X, dropout)",
                          "test_dropout_layer", "imports from d2l_bn")},
    BN: {
        "batch_norm_train": ("return F.batch_norm(X, None, None, gamma, beta, training=True, eps=eps)",
                             "test_batch_norm_train", "uses `F.batch_norm`"),
        "batch_norm_backward": (AUTOGRAD, "test_batch_norm_backward", "compute this by hand")},
}
# {student: {chapter: {solution cell: (answer, test cell that must fail, words its message must contain)}}}
WRONG = {**{student: {BN: changes} for student, changes in MISTAKES.items()}, "cheater": CHEATS}

# Right answers written otherwise than the instructor's (other functions, other formulas, grad set to None, a
# train() override that sets flags by hand ...): a check that fails right code is as bad as one that passes
# wrong code. {chapter: {solution cell: answer, or one answer per solution region of the cell}}
ALTERNATIVES = {
    "01_softmax_regression": {
        "log_softmax": """
m = X.max(-1, keepdim=True)[0]
return (X - m) - (X - m).exp().sum(-1, keepdim=True).log()
""",
        "cross_entropy": "return -log_softmax(logits).gather(1, y.long().unsqueeze(1)).squeeze(1)",
        "accuracy": """
predictions = y_hat.argmax(dim=1) if y_hat.dim() == 2 and y_hat.shape[1] > 1 else y_hat
return float(sum(int(p) == int(t) for p, t in zip(predictions, y)))
""",
    },
    "02_minibatch_sgd": {
        "data_iter": """
order = torch.argsort(torch.rand(len(labels), generator=generator))
batches = [order[start:start + batch_size] for start in range(0, len(labels), batch_size)]
for batch in batches:
    yield features[batch], labels[batch]
""",
        "sgd": """
for p in params:
    if p.grad is not None:
        p.data.add_(p.grad, alpha=-lr / batch_size)
        p.grad = None
""",
        "train_epoch": """
losses, n = [], 0
for X, y in batches:
    loss = F.cross_entropy(net(X), y, reduction="sum")
    loss.backward()
    sgd(list(net.parameters()), lr, X.shape[0])
    losses.append(loss.item())
    n += X.shape[0]
return sum(losses) / n
""",
        "warmup_cosine": """
if warmup > 0 and progress <= warmup:
    return float(progress) / warmup
t = (progress - warmup) / (1 - warmup)
return (math.cos(math.pi * t) + 1) / 2
""",
    },
    "03_dropout": {
        "dropout_layer": """
if dropout >= 1:
    return X * 0
keep = torch.bernoulli(torch.full_like(X, 1 - dropout))
return X * keep / (1 - dropout)
""",
        "dropout_module": """
if not self.training:
    return X
return dropout_layer(X, self.p)
""",
        "xavier_uniform": """
fan_in = weight.shape[1] * (weight.numel() // (weight.shape[0] * weight.shape[1]))
fan_out = weight.shape[0] * (weight.numel() // (weight.shape[0] * weight.shape[1]))
bound = (6 / (fan_in + fan_out)) ** 0.5
with torch.no_grad():
    weight.copy_((torch.rand(weight.shape) * 2 - 1) * bound)
return weight
""",
        "he_normal": """
fan_in = weight[0].numel()
with torch.no_grad():
    weight.copy_(torch.randn(weight.shape) * math.sqrt(2 / fan_in))
return weight
""",
    },
    "04_batch_norm_theory": {
        "batch_norm_train": """
axes = [0] + list(range(2, X.dim()))
var, mean = torch.var_mean(X, dim=axes, correction=0, keepdim=True)
view = [1, -1] + [1] * (X.dim() - 2)
return (X - mean) * torch.rsqrt(var + eps) * gamma.view(view) + beta.view(view)
""",
        "batch_norm_eval": """
if X.dim() == 4:
    X = X.permute(0, 2, 3, 1)
    Y = (X - running_mean) / (running_var + eps) ** 0.5 * gamma + beta
    return Y.permute(0, 3, 1, 2)
return (X - running_mean) / (running_var + eps) ** 0.5 * gamma + beta
""",
        "update_running_stats": """
Z = X.detach().transpose(0, 1).reshape(X.shape[1], -1)      # (C, n)
mean, var = Z.mean(dim=1), Z.var(dim=1, unbiased=True)
return running_mean + momentum * (mean - running_mean), running_var + momentum * (var - running_var)
""",
        "batch_norm_backward": """
axes = [0] + list(range(2, X.dim()))
view = [1, -1] + [1] * (X.dim() - 2)
n = X.numel() // X.shape[1]
mu = X.mean(dim=axes, keepdim=True)
var = ((X - mu) ** 2).sum(dim=axes, keepdim=True) / n
inv = 1 / torch.sqrt(var + eps)
x_hat = (X - mu) * inv
dx_hat = dY * gamma.view(view)
dvar = (dx_hat * (X - mu)).sum(dim=axes, keepdim=True) * -0.5 * inv ** 3
dmu = -(dx_hat * inv).sum(dim=axes, keepdim=True) + dvar * (-2 * (X - mu)).sum(dim=axes, keepdim=True) / n
dX = dx_hat * inv + dvar * 2 * (X - mu) / n + dmu / n
return dX, (dY * x_hat).sum(dim=axes), dY.sum(dim=axes)
""",
    },
    "05_lenet_batch_norm": {
        "lenet_bn": """
layers = list(lenet())
new = []
for i, layer in enumerate(layers):
    if isinstance(layer, nn.Conv2d):
        new += [nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, bias=False),
                nn.BatchNorm2d(layer.out_channels)]
    elif isinstance(layer, nn.Linear) and i < len(layers) - 1:
        new += [nn.Linear(layer.in_features, layer.out_features, bias=False), nn.BatchNorm1d(layer.out_features)]
    else:
        new.append(layer)
return nn.Sequential(*new)
""",
        "recompute_bn_statistics": """
saved = {}
for name, m in net.named_modules():
    saved[name] = (m.training, getattr(m, "momentum", None))
    if isinstance(m, BN_TYPES):
        m.running_mean.zero_()
        m.running_var.fill_(1)
        m.num_batches_tracked.zero_()
        m.momentum = None
        m.train()
with torch.no_grad():
    for X in batches:
        net(X)
for name, m in net.named_modules():
    m.training = saved[name][0]
    if isinstance(m, BN_TYPES):
        m.momentum = saved[name][1]
return net
""",
        "fold_bn_into_conv": """
std = (bn.running_var + bn.eps).sqrt()
folded = copy.deepcopy(conv)
b = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
with torch.no_grad():
    folded.weight.mul_((bn.weight / std).view(-1, 1, 1, 1))
    folded.bias = nn.Parameter(bn.bias + (b - bn.running_mean) * bn.weight / std)
return folded
""",
    },
    "06_batch_norm_in_practice": {
        "freeze_bn_statistics": """
for _, m in module.named_modules():
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        m.train(False)
return module
""",
        "frozen_backbone_net": [
            """
self.head = head
self.backbone = backbone
for p in self.backbone.parameters():
    p.requires_grad = False
""",
            """
result = super().train(mode)
for m in self.backbone.modules():
    if isinstance(m, BN_TYPES):
        m.training = False
return result
"""],
        "group_norm": """
N, C = X.shape[:2]
Z = X.reshape(N, num_groups, -1)
Z = (Z - Z.mean(-1, keepdim=True)) / (Z.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
return Z.reshape(X.shape) * gamma[None, :, None, None] + beta[None, :, None, None]
""",
    },
}


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def graded_cells(notebook) -> list:
    return [c for c in notebook.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]


def region(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between the markers (every such region of the cell)."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def outside_regions(source: str) -> str:
    """The cell without its solution regions and hidden checks (markers included)."""
    kept, inside = [], False
    for line in source.splitlines():
        if line.strip() in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            inside = True
        elif line.strip() in (END_SOLUTION, END_HIDDEN):
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def substitute_solution(source: str, bodies) -> str:
    """Replace the solution regions of a cell, in order, by `bodies` (one string per region), each indented like
    its region's markers."""
    bodies = [bodies] if isinstance(bodies, str) else list(bodies)
    lines, out = source.splitlines(), []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].strip() == BEGIN_SOLUTION:
            indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
            out += textwrap.indent(textwrap.dedent(bodies.pop(0)).strip("\n"), indent).splitlines()
            while lines[i].strip() != END_SOLUTION:
                i += 1
            out.append(lines[i])
        i += 1
    assert not bodies, "more answers than solution regions"
    return "\n".join(out)


# ----- structure: fast, no nbgrader run -------------------------------------------------------------------------

# Chapters 07 and 08 (new on 2026-12-01) have exercises with answers checked in the chapter itself; their graded
# companions are still to be written. Every other chapter must have one, and every companion must be a chapter's.
WITHOUT_GRADED_COMPANION_YET = {"07_normalization_family", "08_deep_networks"}


def test_every_chapter_has_an_exercise_notebook_of_3_to_5_exercises():
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb"))
    assert exercises.chapters() == [c for c in chapters if c not in WITHOUT_GRADED_COMPANION_YET]
    for path in SOURCES:
        assert path.name == f"{path.parent.name}_exercises.ipynb"
        solutions = [c for c in nbformat.read(path, as_version=4).cells if nbgrader_meta(c).get("solution")]
        assert 3 <= len(solutions) <= 5, f"{path.name}: {len(solutions)} exercises"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_each_exercise_is_a_solution_region_then_a_test_cell_with_visible_and_hidden_checks(path):
    notebook = nbformat.read(path, as_version=4)
    ids = [nbgrader_meta(c)["grade_id"] for c in notebook.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for i, cell in enumerate(notebook.cells):
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            assert not meta["grade"] and not meta["locked"] and region(cell.source, BEGIN_SOLUTION, END_SOLUTION)
            assert notebook.cells[i - 1].cell_type == "markdown", "each exercise is introduced by its text"
            text = notebook.cells[i - 1].source
            assert all(word in text for word in ("**Implement**", "**Signature**")), text[:80]
            test = notebook.cells[i + 1]
            assert graded_cells(notebook).count(test) == 1, f"{meta['grade_id']} must be followed by its test cell"
        if meta.get("grade"):
            assert meta["locked"] and meta["points"] > 0 and not meta["solution"]
            visible = cell.source.split(BEGIN_HIDDEN)[0]
            assert "grading.check" in visible, f"{meta['grade_id']}: no visible check"
            assert any("grading.check" in line for line in region(cell.source, BEGIN_HIDDEN, END_HIDDEN)), (
                f"{meta['grade_id']}: no hidden check")
        if not meta.get("solution"):
            assert BEGIN_SOLUTION not in cell.source, "solution markers only in solution cells"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_source_notebook_is_committed_without_outputs_in_the_form_jupyterlab_saves(path):
    text = path.read_text()
    assert normalized(text) == text, f"run: python -m d2l_bn.notebook_format {path.relative_to(ROOT)}"
    notebook = nbformat.reads(text, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_the_setup_cells_give_the_student_the_checks_but_no_answers(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source == setup_cell_source(repository_url()) and nbgrader_meta(code[0])["locked"]
    setup = "\n".join(c.source for c in code if not nbgrader_meta(c).get("solution")
                      and not nbgrader_meta(c).get("grade"))
    imports = re.findall(r"^\s*(?:from|import)\s+(d2l_bn\S*)(?:\s+import\s+(.+))?$", setup, re.MULTILINE)
    assert imports == [("d2l_bn", "grading   # the checks used by the test cells (not the answers)")], imports


# ----- one build, one grading run --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course_dir = tmp_path_factory.mktemp("course")
    exercises.build(course_dir)
    return course_dir


def release(course: Path, chapter: str) -> Path:
    return course / "release" / chapter / f"{chapter}_exercises.ipynb"


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Submissions of four kinds of students, graded by the documented command; returns (scores, table)."""
    submissions = tmp_path_factory.mktemp("submissions")
    for path in SOURCES:
        chapter = path.parent.name
        (submissions / "instructor").mkdir(exist_ok=True)
        shutil.copy(path, submissions / "instructor" / path.name)            # the answers
        unchanged = submissions / "unchanged" / "downloads" / chapter        # any layout inside a student's folder
        unchanged.mkdir(parents=True)
        shutil.copy(release(course, chapter), unchanged / path.name)
    answers = {student: {chapter: {cell: wrong[0] for cell, wrong in changes.items()}
                         for chapter, changes in chapters.items()} for student, chapters in WRONG.items()}
    for student, chapters in {**answers, "alternative": ALTERNATIVES}.items():
        (submissions / student).mkdir()
        for chapter, changes in chapters.items():
            notebook = nbformat.read(ROOT / "exercises" / "source" / chapter / f"{chapter}_exercises.ipynb",
                                     as_version=4)
            for cell in notebook.cells:
                if nbgrader_meta(cell).get("grade_id") in changes:
                    cell.source = substitute_solution(cell.source, changes[nbgrader_meta(cell)["grade_id"]])
            nbformat.write(notebook, submissions / student / f"{chapter}_exercises.ipynb")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert exercises.main(["grade", str(submissions), "--course-dir", str(course)]) == 0
    return _scores(course, submissions), output.getvalue()


def _scores(course: Path, submissions: Path):
    # Read back what the command recorded (the gradebook), without grading again.
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "d2l-bn") as gradebook:
        for student in sorted(p.name for p in submissions.iterdir()):
            for assignment in gradebook.assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student)
                except Exception:
                    continue
                cells = {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}
                scores.setdefault(student, {})[assignment.name] = cells
    return scores


def failure_message(course: Path, student: str, chapter: str, grade_id: str) -> str:
    notebook = nbformat.read(course / "autograded" / student / chapter / f"{chapter}_exercises.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == grade_id)
    return "\n".join(f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error")


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_student_version_has_no_solution_text_no_hidden_checks_and_no_outputs(course, path):
    chapter = path.parent.name
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(release(course, chapter), as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert DISTINCTIVE[chapter] in path.read_text().replace("\\n", "\n").replace('\\"', '"')
    assert DISTINCTIVE[chapter] not in text
    secret = [line.strip() for c in source.cells for begin, end in ((BEGIN_SOLUTION, END_SOLUTION),
                                                                     (BEGIN_HIDDEN, END_HIDDEN))
              for line in region(c.source, begin, end) if line.strip()]
    # What the source shows outside its solution regions and hidden checks (the exercise text, the signatures,
    # the visible checks) may appear in the student version; any other line of an answer or a hidden check not.
    public = "\n".join(outside_regions(c.source) for c in source.cells)
    leaked = [line for line in secret if line in text and line not in public]
    assert not leaked, f"solution or hidden-check lines in the student version: {leaked[:5]}"
    assert not any(marker in text for marker in (BEGIN_SOLUTION, BEGIN_HIDDEN, END_HIDDEN))
    stubs = [c.source for c in student.cells if nbgrader_meta(c).get("solution")]
    assert stubs and all("raise NotImplementedError()" in s for s in stubs)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_student_version_opens_with_the_colab_setup_cell_and_is_a_valid_notebook(course, path):
    student = nbformat.read(release(course, path.parent.name), as_version=4)
    nbformat.validate(student)
    first_code = next(c for c in student.cells if c.cell_type == "code")
    assert first_code.source.startswith(SETUP_MARK) and first_code.source == setup_cell_source(repository_url())
    assert student.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_the_instructor_notebooks_pass_every_autograded_test(graded):
    scores, _ = graded
    assert sorted(scores["instructor"]) == exercises.chapters()
    for chapter, cells in scores["instructor"].items():
        assert cells and all(score == top > 0 for score, top in cells.values()), (chapter, cells)


@pytest.mark.slow
def test_right_answers_written_otherwise_pass_every_autograded_test(graded):
    scores, _ = graded
    assert sorted(scores["alternative"]) == sorted(ALTERNATIVES) == exercises.chapters()
    for chapter, cells in scores["alternative"].items():
        assert cells and all(score == top > 0 for score, top in cells.values()), (chapter, cells)


@pytest.mark.slow
def test_the_unchanged_student_versions_score_zero_on_every_autograded_test(graded):
    scores, _ = graded
    assert sorted(scores["unchanged"]) == exercises.chapters()
    for chapter, cells in scores["unchanged"].items():
        assert cells and all(score == 0 and top > 0 for score, top in cells.values()), (chapter, cells)


def check_only_the_wrong_answers_fail(scores, course, student):
    for chapter, wrong in WRONG[student].items():
        failing = {test: words for _, test, words in wrong.values()}
        for test, (score, top) in scores[student][chapter].items():
            if test in failing:
                assert score == 0, f"{student}: {test} passed a wrong answer"
                message = failure_message(course, student, chapter, test)
                assert failing[test] in message, f"{student}: {test} said {message!r}"
            else:
                assert score == top, f"{student}: {test} failed though its answer is right"


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(MISTAKES))
def test_each_classic_bn_mistake_fails_its_test_with_a_message_that_names_it(graded, course, student):
    check_only_the_wrong_answers_fail(graded[0], course, student)


@pytest.mark.slow
def test_an_answer_that_calls_pytorch_or_imports_the_course_answer_fails_the_hidden_checks(graded, course):
    check_only_the_wrong_answers_fail(graded[0], course, "cheater")


@pytest.mark.slow
def test_grade_prints_one_row_per_student_with_the_points_of_each_chapter(graded):
    scores, table = graded
    rows = {line.split()[0]: line for line in table.splitlines() if line and not line.startswith(" ")}
    total = sum(top for cells in scores["instructor"].values() for _, top in cells.values())
    assert rows["instructor"].split()[-1] == f"{total:g}/{total:g}"
    assert rows["unchanged"].split()[-1] == f"0/{total:g}"
    bn_max = sum(top for _, top in scores["instructor"][BN].values())
    bn_score = sum(s for s, _ in scores["mistake_axes"][BN].values())
    assert f"{bn_score:g}/{bn_max:g}" in rows["mistake_axes"] and rows["mistake_axes"].count("-") == 5
    failed = next(line for line in table.splitlines() if line.startswith("  mistake_axes:"))
    assert "04:test_batch_norm_train" in failed and "04:test_batch_norm_eval" not in failed
