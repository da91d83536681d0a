"""The message catalog of the visible checks and the grader (``compress_course/i18n.py``).

Every message the source wraps in ``_()`` (or ``ngettext``, ``N_``, or names with ``part``)
has a finished Simplified Chinese translation with the same ``{placeholders}``; the
``.po`` holds no fuzzy or obsolete entry; a visible check speaks the language chosen by
``COMPRESS_COURSE_LANG``, the notebook JupyterLab serves, or the kernel's folder.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from compress_course import checks, i18n

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "compress_course"
KEYWORDS = {**DEFAULT_KEYWORDS, "part": None}  # as `make messages` extracts them


def _source_messages() -> dict[str, tuple[str, ...]]:
    """msgid -> (msgid, msgid_plural...) of every message in the source, with babel."""
    found = {}
    for folder in (PACKAGE, ROOT / "tests" / "exercises"):  # the hidden checks' sentences too
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
                str(folder), keywords=KEYWORDS, comment_tags=("NOTE:",)):
            forms = (message,) if isinstance(message, str) else tuple(m for m in message if m)
            if forms and forms[0]:
                found.setdefault(forms[0], forms)
    return found


def _catalog(lang: str = "zh_CN"):
    with open(i18n.po_path(lang), "rb") as handle:
        return read_po(handle, domain=i18n.DOMAIN)


def _fields(text: str) -> list[tuple[str, str, str]]:
    return sorted((name, conversion or "", spec or "")
                  for _literal, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None)


SOURCE = _source_messages()


def test_the_source_has_messages():
    assert len(SOURCE) > 50, "babel found almost no messages: are the checks still wrapped in _()?"


def test_every_message_has_a_translation():
    catalog = _catalog()
    missing, fuzzy = [], []
    for msgid in SOURCE:
        entry = catalog.get(msgid)
        strings = () if entry is None else (
            entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None or not all(strings):
            missing.append(msgid)
        elif entry.fuzzy:
            fuzzy.append(msgid)
    assert not missing, (f"{len(missing)} messages have no zh_CN translation (run `make messages`, "
                         "then translate them in compress_course/locale/zh_CN/LC_MESSAGES/"
                         "compress_course.po):\n" + "\n".join(map(repr, missing)))
    assert not fuzzy, ("fuzzy zh_CN entries (the English changed: check the translation, then "
                       "remove the fuzzy flag):\n" + "\n".join(map(repr, fuzzy)))


def test_no_obsolete_entries():
    # Entries for messages the source no longer has are allowed (several people edit the
    # checks at once; `make messages` drops them), but not kept as obsolete (#~) entries.
    obsolete = list(_catalog().obsolete)
    assert not obsolete, "obsolete entries in the zh_CN catalog: " + ", ".join(map(repr, obsolete))


def test_translations_keep_the_placeholders():
    catalog = _catalog()
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for translated in strings:
            if not translated:
                continue
            try:
                same = _fields(translated) == _fields(ids[-1]) or _fields(translated) == \
                    _fields(ids[0])
            except ValueError as error:  # an unmatched brace
                same, translated = False, f"{translated} ({error})"
            if not same:
                wrong.append(f"{ids[0]!r} -> {translated!r}")
    assert not wrong, "translations whose {placeholders} differ from the English:\n" + \
        "\n".join(wrong)


def test_the_english_messages_are_valid_format_strings():
    bad = []
    for msgid in SOURCE:
        try:
            _fields(msgid)
        except ValueError as error:
            bad.append(f"{msgid!r}: {error}")
    assert not bad, "\n".join(bad)


def test_every_part_of_the_hidden_checks_is_in_the_catalog():
    # The parts' names are identifiers (``check="errors"``) translated where they are shown;
    # the visible checks name the same parts with ``part("errors")``, which `make messages`
    # extracts. A part only the hidden checks name would show in English in a Chinese report.
    names = set()
    for path in sorted((ROOT / "tests" / "exercises").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "check" and \
                    isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                names.add(node.value.value)
    assert names, "found no check= in tests/exercises"
    assert not names - set(SOURCE), f"parts without a catalog entry: {sorted(names - set(SOURCE))}"


# ---------------------------------------------------------------------- the language


@pytest.fixture
def clean_language(monkeypatch, tmp_path):
    for name in (i18n.ENV, "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    i18n.set_language(None)
    yield monkeypatch
    i18n.set_language(None)


def test_language_follows_the_environment(clean_language):
    assert i18n.language() == "en"
    for value, expected in (("zh_CN", "zh_CN"), ("zh", "zh_CN"), ("zh-CN", "zh_CN"),
                            ("en", "en")):
        clean_language.setenv(i18n.ENV, value)
        assert i18n.language() == expected, value
    clean_language.setenv(i18n.ENV, "klingon")
    with pytest.warns(UserWarning, match="klingon"):
        assert i18n.language() == "en"


def test_language_follows_the_notebook_jupyterlab_serves(clean_language):
    clean_language.setenv("JPY_SESSION_NAME", "/home/jovyan/notebooks/zh_CN/01_pruning.ipynb")
    assert i18n.language() == "zh_CN"
    clean_language.setenv("JPY_SESSION_NAME", "/home/jovyan/notebooks/01_pruning.ipynb")
    assert i18n.language() == "en"
    clean_language.setenv(i18n.ENV, "en")  # the environment variable comes first
    clean_language.setenv("JPY_SESSION_NAME", "notebooks/zh_CN/01_pruning.ipynb")
    assert i18n.language() == "en"


def test_language_follows_the_kernels_folder(clean_language, tmp_path):
    folder = tmp_path / "notebooks" / "zh_CN"
    folder.mkdir(parents=True)
    clean_language.chdir(folder)
    assert i18n.language() == "zh_CN"
    clean_language.chdir(folder.parent)
    assert i18n.language() == "en"


def test_set_language_overrides_and_checks_its_argument(clean_language):
    clean_language.setenv(i18n.ENV, "en")
    i18n.set_language("zh_CN")
    assert i18n.language() == "zh_CN"
    assert i18n._("errors") != "errors"
    i18n.set_language(None)
    assert i18n.language() == "en" and i18n._("errors") == "errors"
    with pytest.raises(ValueError, match="lang"):
        i18n.set_language("fr")


# ------------------------------------------------------------------ a check, two languages


def _wrong_count(model, trainable_only=False):  # one too many, whatever the model
    return sum(p.numel() for p in model.parameters()) + 1


_wrong_count.__name__ = "count_parameters"


def test_a_visible_check_fails_in_both_languages(clean_language, capsys):
    clean_language.delenv("COMPRESS_COURSE_STRICT", raising=False)
    checks.check_count_parameters(_wrong_count)
    english = capsys.readouterr().out
    assert "count_parameters: 0 of 3 parts pass." in english
    assert "returned 9; expected 8 (3*2 weights + 2 biases)." in english
    assert not re.search(r"[\u4e00-\u9fff]", english)

    clean_language.setenv(i18n.ENV, "zh_CN")
    checks.check_count_parameters(_wrong_count)
    chinese = capsys.readouterr().out
    assert "count_parameters：3 个部分中通过了 0 个。" in chinese
    assert "返回了 9；应为 8（3*2 个权重 + 2 个偏置）。" in chinese
    assert "主要性质" in chinese and "main property" not in chinese


def test_a_visible_check_passes_in_both_languages(clean_language, capsys):
    def count_parameters(model, trainable_only=False):
        return sum(p.numel() for p in model.parameters()
                   if p.requires_grad or not trainable_only)

    checks.check_count_parameters(count_parameters)
    assert capsys.readouterr().out.strip() == (
        "\u2713 count_parameters passed (8 cases): main property, shared parameters and "
        "buffers, trainable_only.")
    clean_language.setenv(i18n.ENV, "zh_CN")
    checks.check_count_parameters(count_parameters)
    assert capsys.readouterr().out.strip() == (
        "\u2713 count_parameters 通过（8 个用例）：主要性质、共享参数与缓冲区、trainable_only。")


def test_the_score_table_speaks_the_language(clean_language):
    from compress_course.grader.report import format_table, make_report, summarise

    collected = [{"nodeid": "t1", "notebook": "00_baseline", "exercise": "count_parameters",
                  "points": 2, "check": "main property"},
                 {"nodeid": "t2", "notebook": "00_baseline", "exercise": "count_parameters",
                  "points": 2, "check": "errors"}]
    results = [{"nodeid": "t1", "passed": True, "message": "passed"}]
    english = format_table(make_report("x", summarise(collected, results)))
    assert "notebook" in english and "errors (0/1): grading stopped before this check ran" \
        in english and "total: 1 / 2" in english
    i18n.set_language("zh_CN")
    chinese = format_table(make_report("x", summarise(collected, results)))
    assert "笔记本" in chinese and "总分：1 / 2" in chinese
    assert "错误处理 (0/1)：评分在运行到这项检查之前就停止了" in chinese
