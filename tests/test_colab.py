"""Every notebook opens on Colab from the one configured repository URL, and does nothing special elsewhere."""
from __future__ import annotations

import tomllib

import nbformat
import pytest

from d2l_bn.colab import (ROOT, SETUP_MARK, STUDENT_BRANCH, badges_markdown, chapter_notebooks, colab_url,
                          exercise_badges_markdown, exercise_notebooks, repository_url, setup_cell_source,
                          student_colab_url)

NOTEBOOKS = chapter_notebooks()
EXERCISES = exercise_notebooks()   # the graded exercises' source notebooks (their student versions keep this cell)


@pytest.mark.parametrize("notebook", NOTEBOOKS + EXERCISES, ids=lambda p: p.name)
def test_first_code_cell_is_the_colab_setup_cell_for_the_configured_repository(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source.startswith(SETUP_MARK), "run `python -m d2l_bn.colab`, then re-execute the notebook"
    assert first_code.source == setup_cell_source(repository_url())
    assert first_code.outputs == [], "outside Colab the setup cell must print nothing"
    assert first_code.metadata["slideshow"]["slide_type"] == "skip"


def test_setup_cell_does_nothing_outside_colab(capsys):
    namespace: dict = {}
    exec(compile(setup_cell_source("https://github.com/x/y"), "<setup>", "exec"), namespace)
    assert capsys.readouterr().out == ""
    assert "subprocess" not in namespace, "nothing may be installed outside Colab"


def test_readme_has_one_open_in_colab_badge_per_notebook_from_the_same_url():
    readme = (ROOT / "README.md").read_text()
    assert badges_markdown(repository_url(), NOTEBOOKS) in readme, "run `python -m d2l_bn.colab`"
    for notebook in NOTEBOOKS:
        assert colab_url(repository_url(), notebook) in readme


def test_colab_url_refuses_a_non_github_repository():
    with pytest.raises(ValueError, match="GitHub"):
        colab_url("https://gitlab.com/a/b", NOTEBOOKS[0])


def test_readme_has_one_badge_per_exercise_notebook_opening_its_published_student_version():
    readme = (ROOT / "README.md").read_text()
    assert EXERCISES, "no exercise notebooks found under exercises/source/"
    assert exercise_badges_markdown(repository_url(), EXERCISES) in readme, "run `python -m d2l_bn.colab`"
    for notebook in EXERCISES:
        url = student_colab_url(repository_url(), notebook)
        assert url in readme
        # the student version, published as the branch STUDENT_BRANCH; never the source, which holds the answers
        assert url.endswith(f"/blob/{STUDENT_BRANCH}/{notebook.parent.name}/{notebook.name}"), url
    assert "exercises/source" not in readme.split("<!-- colab exercise badges: begin -->")[1]


def test_the_requirements_admit_every_version_colab_preinstalls():
    """The setup cell's pip must find nothing to upgrade: each requirement accepts Colab's pinned version."""
    from packaging.requirements import Requirement

    pins = dict(line.split("#")[0].strip().split("==") for line in (ROOT / ".ci" / "colab-constraints.txt").read_text()
                .splitlines() if line.split("#")[0].strip())
    pins.update({"torch": "2.11.0", "torchvision": "0.26.0"})          # Colab's, pinned in .ci/colab-like
    assert {"ipython", "ipywidgets", "traitlets", "matplotlib", "numpy", "tqdm"} <= set(pins)
    with open(ROOT / "pyproject.toml", "rb") as f:
        dependencies = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
    for requirement in dependencies:
        if requirement.name in pins:
            assert requirement.specifier.contains(pins[requirement.name]), \
                f"{requirement} would replace Colab's {requirement.name} {pins[requirement.name]}"
