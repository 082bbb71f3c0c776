"""Each chapter's .md source and committed .ipynb agree (what `jupytext --sync` would change) and hold no errors."""

import pytest

from course_lib.notebooks import chapter_pairs, errors_in, glue_references, missing_glue, out_of_sync


@pytest.mark.parametrize("pair", chapter_pairs(), ids=lambda p: p[0].stem)
def test_pair_in_sync_and_error_free(pair):
    md, ipynb = pair
    assert out_of_sync(md, ipynb) is None
    assert errors_in(ipynb) == []
    assert missing_glue(md, ipynb) == []


def test_missing_glue_names_what_the_run_never_glued(tmp_path):
    import nbformat

    md = tmp_path / "01_x.md"
    md.write_text("Accuracy {glue:text}`acc`, seeds {glue:text}`seeds` and {glue:text}`acc` again.\n")
    assert glue_references(md.read_text()) == {"acc", "seeds"}
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={"text/plain": "'0.8'"},
                                 metadata={"scrapbook": {"name": "acc", "mime_prefix": ""}})
    nb.cells.append(nbformat.v4.new_code_cell("glue('acc', '0.8')", outputs=[out]))
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    assert missing_glue(md, tmp_path / "01_x.ipynb") == ["seeds"]


@pytest.mark.parametrize("pair", chapter_pairs(), ids=lambda p: p[0].stem)
def test_one_parameters_cell_with_the_switches(pair):
    import nbformat

    nb = nbformat.read(pair[1], as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{pair[1].name}: expected exactly one cell tagged 'parameters'"
    for name in ("PROFILE", "SOURCE", "SEED"):
        assert f"{name} =" in params[0].source


def test_out_of_sync_is_detected(tmp_path):
    import jupytext

    md = tmp_path / "01_x.md"
    md.write_text("---\njupytext:\n  formats: md:myst,ipynb\n---\n\n# T\n\n```{code-cell} ipython3\nx = 1\n```\n")
    jupytext.write(jupytext.read(md), tmp_path / "01_x.ipynb", fmt="ipynb")
    jupytext.write(jupytext.read(tmp_path / "01_x.ipynb"), md, fmt="md:myst")  # the canonical pair
    assert out_of_sync(md, tmp_path / "01_x.ipynb") is None
    md.write_text(md.read_text().replace("x = 1", "x = 2"))
    assert "differ" in out_of_sync(md, tmp_path / "01_x.ipynb")
