"""Every notebook opens on Colab from the one configured repository URL, and does nothing special elsewhere."""
from __future__ import annotations

import nbformat
import pytest

from d2l_bn.colab import (ROOT, SETUP_MARK, badges_markdown, chapter_notebooks, colab_url, repository_url,
                          setup_cell_source)

NOTEBOOKS = chapter_notebooks()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
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
