"""Translations of the learner notebooks: ``i18n/<language>/NN_name.md`` beside ``solutions/``.

The English learner notebook (``notebooks/NN_name.ipynb``, made from ``solutions/``) is the
single source. A translation file holds one entry per translated cell, keyed by the cell's
id and recording a hash of the English text it translates::

    <!-- i18n cell=cell-003 kind=markdown en-sha=1f2e3d4c5b6a -->
    ## 练习 1 — ……

    <!-- i18n cell=9280abec kind=code en-sha=0a1b2c3d4e5f -->
    ```python
    def calibrate_range(...):
        \"\"\"（中文文档字符串）\"\"\"
        # 在此写你的代码
        raise NotImplementedError()
    ```

Every markdown cell and every cell tagged ``exercise`` (the learner's stub) needs an entry.
A code entry may change only comments and docstrings: the code itself must stay the same
(checked by comparing the syntax trees without docstrings). ``en-sha`` is the first 12 hex
digits of the SHA-256 of the English cell's source: when the English changes, the entry is
stale and ``problems`` names the notebook and the cell. An entry whose header ends in
`` todo`` holds the English text still waiting for its translation
(``compress-course translate --init`` writes them).

``translate_notebook`` makes the translated learner notebook: the same cells, ids, tags and
code, with the translated markdown, comments and docstrings, and
``metadata.compress_course.language`` set, which the checks and the grader read to choose
the language of their messages.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import i18n
from .notebook import EXERCISE_TAG, PACKAGE_ROOT

TRANSLATIONS = PACKAGE_ROOT / "i18n"
LANGUAGES = ("zh_CN",)
HEADER = re.compile(r"^<!-- i18n cell=(?P<id>[A-Za-z0-9_-]+) kind=(?P<kind>markdown|code) "
                    r"en-sha=(?P<sha>[0-9a-f]{12})(?P<todo> todo)? -->$")
FENCE_OPEN, FENCE_CLOSE = "```python", "```"


class TranslationError(ValueError):
    """A translation file is malformed; the message names the file and the line."""


@dataclass
class Entry:
    cell_id: str
    kind: str
    sha: str
    text: str
    todo: bool
    line: int


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def source_hash(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def is_exercise(cell: dict) -> bool:
    return EXERCISE_TAG in cell.get("metadata", {}).get("tags", [])


def translatable(notebook: dict) -> list[tuple[str, str, str]]:
    """``(cell id, kind, English source)`` of every cell that needs a translation."""
    cells = []
    for index, cell in enumerate(notebook["cells"], start=1):
        if cell["cell_type"] == "markdown" or (cell["cell_type"] == "code" and is_exercise(cell)):
            if "id" not in cell:
                raise TranslationError(f"cell {index} has no id; translations are keyed by id "
                                       "(give it one in solutions/ and release again)")
            cells.append((cell["id"], cell["cell_type"], source_of(cell)))
    return cells


def translation_path(language: str, notebook_name: str, root: Path = TRANSLATIONS) -> Path:
    return Path(root) / language / (Path(notebook_name).stem + ".md")


def parse(text: str, where: str = "<translation>") -> dict[str, Entry]:
    """The entries of a translation file, by cell id."""
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    body: list[str] = []

    def close():
        if current is None:
            return
        content = "\n".join(body).strip("\n")
        if current.kind == "code":
            lines = content.split("\n")
            if len(lines) < 2 or lines[0].strip() != FENCE_OPEN or lines[-1].strip() != FENCE_CLOSE:
                raise TranslationError(f"{where} line {current.line}: a code entry must be one "
                                       f"{FENCE_OPEN} ... {FENCE_CLOSE} block")
            content = "\n".join(lines[1:-1])
        current.text = content
        entries[current.cell_id] = current

    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("<!-- i18n"):
            match = HEADER.match(line.rstrip())
            if not match:
                raise TranslationError(f"{where} line {number}: malformed entry header {line!r}; "
                                       "expected `<!-- i18n cell=ID kind=markdown|code "
                                       "en-sha=12HEX [todo] -->`")
            close()
            if match["id"] in entries:
                raise TranslationError(f"{where} line {number}: cell {match['id']!r} has two "
                                       "entries")
            current = Entry(match["id"], match["kind"], match["sha"], "", bool(match["todo"]),
                            number)
            body = []
        elif current is not None:
            body.append(line)
    close()
    return entries


def load(language: str, notebook_name: str, root: Path = TRANSLATIONS) -> dict[str, Entry]:
    """The entries for one notebook (empty when it has no translation file yet)."""
    path = translation_path(language, notebook_name, root)
    if not path.exists():
        return {}
    return parse(path.read_text(encoding="utf-8"), where=str(path))


def format_entry(cell_id: str, kind: str, english: str, text: str, todo: bool = False) -> str:
    header = (f"<!-- i18n cell={cell_id} kind={kind} en-sha={source_hash(english)}"
              f"{' todo' if todo else ''} -->")
    body = f"{FENCE_OPEN}\n{text}\n{FENCE_CLOSE}" if kind == "code" else text
    return f"{header}\n{body}\n"


def _code_shape(source: str) -> str:
    """The syntax tree of ``source`` without its docstrings (comments never reach it)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def same_code(english: str, translated: str) -> bool:
    """True when the two sources differ only in comments and docstrings."""
    try:
        return _code_shape(english) == _code_shape(translated)
    except SyntaxError:
        return False


def _first_line(text: str) -> str:
    line = next((part for part in text.split("\n") if part.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _review(notebook: dict, name: str, language: str,
            root: Path) -> tuple[dict[str, str], list[str]]:
    """``(cell id -> usable translated text, problems)`` for an English learner notebook.

    An entry is usable when nothing is wrong with it; each problem is a sentence naming the
    translation file, the cell id and the English cell's first line.
    """
    path = translation_path(language, name, root)
    try:
        entries = load(language, name, root)
    except TranslationError as error:
        return {}, [str(error)]
    usable, found = {}, []
    cells = translatable(notebook)
    for cell_id, kind, english in cells:
        label = f"{path}: {kind} cell {cell_id} ({_first_line(english)!r})"
        entry = entries.get(cell_id)
        if entry is None:
            found.append(f"{label} has no translation")
        elif entry.kind != kind:
            found.append(f"{label} is translated as a {entry.kind} entry")
        elif entry.sha != source_hash(english):
            found.append(f"{label} is stale: the English changed since it was translated "
                         f"(en-sha {entry.sha} recorded, {source_hash(english)} now); "
                         "update the translation and its en-sha")
        elif entry.todo:
            found.append(f"{label} is still marked todo (English text, not yet translated)")
        elif kind == "code" and not same_code(english, entry.text):
            found.append(f"{label}: the translation changes the code itself; only comments and "
                         "docstrings may change")
        elif kind == "markdown" and not entry.text.strip():
            found.append(f"{label}: the translation is empty")
        else:
            usable[cell_id] = entry.text
    known = {cell_id for cell_id, _, _ in cells}
    for cell_id, entry in entries.items():
        if cell_id not in known:
            found.append(f"{path} line {entry.line}: entry for cell {cell_id}, which "
                         f"{Path(name).stem} no longer has (delete the entry)")
    return usable, found


def problems(notebook: dict, name: str, language: str, root: Path = TRANSLATIONS) -> list[str]:
    """Every way the translation of ``notebook`` (an English learner notebook) is incomplete.

    Each sentence names the translation file, the cell id and the English cell's first line.
    """
    return _review(notebook, name, language, root)[1]


def translate_notebook(notebook: dict, name: str, language: str,
                       root: Path = TRANSLATIONS) -> tuple[dict, list[str]]:
    """The translated copy of an English learner notebook, and its ``problems``.

    A cell with no usable entry (any of the ``problems``: missing, stale, todo, empty or
    changing the code) keeps its English text, so the notebook always works.
    """
    usable, found = _review(notebook, name, language, root)
    translated = copy.deepcopy(notebook)
    for cell in translated["cells"]:
        if cell.get("id") in usable:
            cell["source"] = usable[cell["id"]]
    translated["metadata"].setdefault("compress_course", {})["language"] = language
    return translated, found


def notebook_language(submission: Path) -> str | None:
    """The language a submission's notebooks are written in (their metadata
    ``compress_course.language``, e.g. ``"zh_CN"`` for ``notebooks/zh_CN``), the most common
    one when they differ; None when no notebook says."""
    counts: dict[str, int] = {}
    submission = Path(submission)
    for path in sorted(submission.glob("*.ipynb")) + sorted(submission.glob("*/*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
            found = i18n.normalize(meta.get("compress_course", {}).get("language"))
        except (OSError, ValueError, AttributeError):
            continue
        if found:
            counts[found] = counts.get(found, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def init_entries(notebook: dict, name: str, language: str, root: Path = TRANSLATIONS) -> int:
    """Append a ``todo`` entry (the English text) for each cell with no entry; return how many.

    Stale entries are left alone (their old translation is the best start for the new one).
    """
    path = translation_path(language, name, root)
    entries = load(language, name, root)
    missing = [(cell_id, kind, english) for cell_id, kind, english in translatable(notebook)
               if cell_id not in entries]
    if not missing:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else (
        f"<!-- {language} translation of {Path(name).stem}: one entry per markdown cell and "
        "exercise cell; format in compress_course/grader/translation.py -->\n")
    for cell_id, kind, english in missing:
        text += "\n" + format_entry(cell_id, kind, english, english, todo=True)
    path.write_text(text, encoding="utf-8")
    return len(missing)


def fill_in(translated_blank: dict, solved: dict) -> dict:
    """What a learner hands in after solving a translated notebook.

    Each ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` pair in an exercise cell of
    ``translated_blank`` is replaced by the matching solution region of ``solved`` (same
    cell id, regions in order). Used by the tests: the translated notebooks must earn full
    marks once solved.
    """
    from .release import BEGIN, END

    regions: dict[str, list[list[str]]] = {}
    for cell in solved["cells"]:
        if is_exercise(cell):
            found, current = [], None
            for line in source_of(cell).split("\n"):
                if line.strip() == BEGIN:
                    current = []
                elif line.strip() == END:
                    found.append(current)
                    current = None
                elif current is not None:
                    current.append(line)
            regions[cell["id"]] = found
    filled = copy.deepcopy(translated_blank)
    for cell in filled["cells"]:
        if not is_exercise(cell):
            continue
        lines, out, index = source_of(cell).split("\n"), [], 0
        skip = False
        for number, line in enumerate(lines):
            if skip:
                skip = False
                continue
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            if line.lstrip().startswith("#") and following == "raise NotImplementedError()":
                out += regions[cell["id"]][index]
                index += 1
                skip = True
            else:
                out.append(line)
        cell["source"] = "\n".join(out)
    return filled
