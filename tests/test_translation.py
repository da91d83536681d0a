"""Translations (i18n/<language>/NN_name.md): the format, staleness, the translated release.

The repository-wide checks (every cell of every lesson translated and up to date; the
translated notebooks grade like the English ones) are in tests/test_meta.py.
"""

import json

import pytest

from compress_course.grader import release, translation
from compress_course.grader.translation import (
    TranslationError,
    fill_in,
    format_entry,
    parse,
    problems,
    same_code,
    source_hash,
    translate_notebook,
)

STUB = '''def f(x):
    """Add one."""
    # YOUR CODE HERE
    raise NotImplementedError()'''

SOLVED = '''def f(x):
    """Add one."""
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION'''


def cell(source, kind="markdown", cell_id="a", tags=()):
    c = {"cell_type": kind, "id": cell_id, "metadata": {"tags": list(tags)} if tags else {},
         "source": source}
    if kind == "code":
        c.update(outputs=[], execution_count=None)
    return c


def notebook(*cells):
    return {"cells": list(cells), "metadata": {"kernelspec": {"name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


ENGLISH = notebook(cell("# Lesson"), cell("print(1)", "code", "b"),
                   cell(STUB, "code", "c", ["exercise"]))
ZH_STUB = STUB.replace('"""Add one."""', '"""加一。"""').replace("YOUR CODE HERE", "在此写你的代码")


def write(root, text, name="00_x"):
    path = root / "zh_CN" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def complete():
    return (format_entry("a", "markdown", "# Lesson", "# 第一课")
            + format_entry("c", "code", STUB, ZH_STUB))


def test_a_complete_translation_has_no_problems_and_translates(tmp_path):
    write(tmp_path, complete())
    assert problems(ENGLISH, "00_x.ipynb", "zh_CN", tmp_path) == []
    translated, found = translate_notebook(ENGLISH, "00_x.ipynb", "zh_CN", tmp_path)
    assert found == []
    assert [c["source"] for c in translated["cells"]] == ["# 第一课", "print(1)", ZH_STUB]
    assert translated["metadata"]["compress_course"]["language"] == "zh_CN"
    assert ENGLISH["cells"][0]["source"] == "# Lesson"  # the input is left alone


def test_a_stale_entry_names_the_file_and_the_cell_and_keeps_the_english(tmp_path):
    path = write(tmp_path, complete())
    changed = notebook(cell("# Lesson, revised"), *ENGLISH["cells"][1:])
    found = problems(changed, "00_x.ipynb", "zh_CN", tmp_path)
    assert len(found) == 1 and str(path) in found[0] and "markdown cell a" in found[0]
    assert "stale" in found[0] and source_hash("# Lesson, revised") in found[0]
    translated, _ = translate_notebook(changed, "00_x.ipynb", "zh_CN", tmp_path)
    assert translated["cells"][0]["source"] == "# Lesson, revised"


@pytest.mark.parametrize("text, words", [
    (format_entry("c", "code", STUB, ZH_STUB), "markdown cell a ('# Lesson') has no translation"),
    (complete().replace(" -->", " todo -->", 1), "markdown cell a ('# Lesson') is still marked todo"),
    (complete() + format_entry("zz", "markdown", "old", "旧"), "no longer has"),
    (format_entry("a", "markdown", "# Lesson", "# 第一课")
     + format_entry("c", "code", STUB, ZH_STUB.replace("x + 1", "x").replace(
         "raise NotImplementedError()", "return x")), "changes the code itself"),
])
def test_missing_todo_unknown_and_changed_code_are_problems(tmp_path, text, words):
    write(tmp_path, text)
    found = problems(ENGLISH, "00_x.ipynb", "zh_CN", tmp_path)
    assert any(words in p for p in found), found


def test_malformed_files_name_the_line():
    with pytest.raises(TranslationError, match="line 2: malformed"):
        parse("intro\n<!-- i18n cell=a kind=markdown -->\ntext")
    with pytest.raises(TranslationError, match="line 1: a code entry"):
        parse("<!-- i18n cell=a kind=code en-sha=0123456789ab -->\nprint(1)")
    with pytest.raises(TranslationError, match="two entries"):
        parse(format_entry("a", "markdown", "x", "y") * 2)


def test_same_code_allows_only_comments_and_docstrings():
    assert same_code(STUB, ZH_STUB)
    assert not same_code(STUB, STUB.replace("x", "z"))
    assert not same_code("s = 'a'", "s = '甲'")  # a string that is not a docstring is code
    assert not same_code(STUB, "def f(x:")


def test_fill_in_puts_the_solution_into_the_translated_stub():
    solved = notebook(cell(SOLVED, "code", "c", ["exercise"]))
    blank = notebook(cell(ZH_STUB, "code", "c", ["exercise"]))
    filled = fill_in(blank, solved)["cells"][0]["source"]
    assert '"""加一。"""' in filled and "y = x + 1" in filled
    assert "NotImplementedError" not in filled
    namespace = {}
    exec(filled, namespace)
    assert namespace["f"](2) == 3


def test_release_writes_the_translated_notebooks(tmp_path):
    solutions, notebooks, i18n = tmp_path / "solutions", tmp_path / "notebooks", tmp_path / "i18n"
    solutions.mkdir()
    solved = notebook(cell("# Lesson"), cell(SOLVED, "code", "c", ["exercise"]))
    (solutions / "00_x.ipynb").write_text(json.dumps(solved))
    write(i18n, format_entry("a", "markdown", "# Lesson", "# 第一课")
          + format_entry("c", "code", STUB, ZH_STUB))
    written = release.release(solutions, notebooks, translations=i18n)
    assert written == ["00_x.ipynb", "zh_CN/00_x.ipynb"]
    zh = json.loads((notebooks / "zh_CN" / "00_x.ipynb").read_text(encoding="utf-8"))
    assert [c["source"] for c in zh["cells"]] == ["# 第一课", ZH_STUB]
    assert release.release(solutions, notebooks, check=True, translations=i18n) == []
    (notebooks / "zh_CN" / "99_stray.ipynb").write_text("{}")
    assert release.release(solutions, notebooks, check=True, translations=i18n) == [
        "zh_CN/99_stray.ipynb (no solved notebook of that name)"]


def test_a_cell_without_an_id_is_a_release_error(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    bare = notebook(cell("# Lesson"))
    del bare["cells"][0]["id"]
    (solutions / "00_x.ipynb").write_text(json.dumps(bare))
    with pytest.raises(release.ReleaseError, match="has no id"):
        release.release(solutions, tmp_path / "notebooks", translations=tmp_path / "i18n")


@pytest.mark.parametrize("language", translation.LANGUAGES)
@pytest.mark.parametrize("path", sorted(release.NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_lesson_is_translated_and_up_to_date(path, language):
    english = json.loads(path.read_text(encoding="utf-8"))
    found = translation.problems(english, path.name, language)
    assert not found, (f"{len(found)} cells of {path.name} need their {language} translation "
                       "(edit the entries, or start new ones with `compress-course translate "
                       f"{path.stem[:2]} --init`):\n" + "\n".join(found))
