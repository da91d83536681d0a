"""The release step: solution regions become placeholders; malformed markers are errors."""

import json

import pytest

from compress_course import release
from compress_course.release import ReleaseError, blank_solution, release_notebook


def cell(source, tags=(), kind="code"):
    c = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}, "source": source}
    if kind == "code":
        c.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "hi"}],
                 execution_count=3)
    return c


def notebook(*cells):
    return {"cells": list(cells), "metadata": {"kernelspec": {"name": "julia"}},
            "nbformat": 4, "nbformat_minor": 5}


SOLVED = '''def f(x):
    """Doc stays."""
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

def g():
    if True:
        ### BEGIN SOLUTION
        return 2
        ### END SOLUTION'''


def test_regions_are_replaced_at_the_markers_indentation():
    blank = blank_solution(SOLVED, "nb cell 1", is_exercise=True)
    assert blank == '''def f(x):
    """Doc stays."""
    # YOUR CODE HERE
    raise NotImplementedError()

def g():
    if True:
        # YOUR CODE HERE
        raise NotImplementedError()'''
    namespace = {}
    exec(blank, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_malformed_markers_name_notebook_and_cell(source, problem):
    with pytest.raises(ReleaseError, match=f"lesson.ipynb cell 2.*{problem}|{problem}"):
        release_notebook(notebook(cell("import x", ["setup"]), cell(source, ["exercise"])),
                         "lesson.ipynb")


def test_marker_outside_an_exercise_cell_is_an_error():
    with pytest.raises(ReleaseError, match="lesson.ipynb cell 1.*not tagged `exercise`"):
        release_notebook(notebook(cell("### BEGIN SOLUTION\n### END SOLUTION")), "lesson.ipynb")


def test_outputs_cleared_kernelspec_set_and_input_untouched():
    solved = notebook(cell("print('hi')"), cell(SOLVED, ["exercise"]), cell("# Title", kind="markdown"))
    before = json.dumps(solved, sort_keys=True)
    released = release_notebook(solved, "lesson.ipynb")
    assert json.dumps(solved, sort_keys=True) == before
    assert all(c["outputs"] == [] and c["execution_count"] is None
               for c in released["cells"] if c["cell_type"] == "code")
    assert released["metadata"]["kernelspec"]["name"] == "python3"
    assert "BEGIN SOLUTION" not in released["cells"][1]["source"]
    assert released["cells"][1]["metadata"]["tags"] == ["exercise"]


def test_release_writes_then_check_passes_and_detects_drift(tmp_path):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    (solutions / "00_x.ipynb").write_text(json.dumps(notebook(cell(SOLVED, ["exercise"]))))
    assert release.release(solutions, notebooks, languages=()) == ["00_x.ipynb"]
    assert release.release(solutions, notebooks, check=True, languages=()) == []
    (notebooks / "00_x.ipynb").write_text("{}")
    (notebooks / "99_stray.ipynb").write_text("{}")
    differing = release.release(solutions, notebooks, check=True, languages=())
    assert differing[0] == "00_x.ipynb" and "99_stray.ipynb" in differing[1]


def test_strip_outputs(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook(cell("print(1)"))))
    assert release.strip_outputs(path) is True
    assert release.strip_outputs(path) is False
    assert json.loads(path.read_text())["cells"][0]["outputs"] == []
