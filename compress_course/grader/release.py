"""Making the learner notebooks (``notebooks/``) from the solved ones (``solutions/``).

In a solved notebook, the answer inside a cell tagged ``exercise`` sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers). The release replaces
each such region, markers included, with ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` at the marker's indentation, clears every output and
execution count, and sets the kernelspec to ``python3``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import translation
from .notebook import EXERCISE_TAG, PACKAGE_ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
SOLUTIONS = PACKAGE_ROOT / "solutions"
NOTEBOOKS = PACKAGE_ROOT / "notebooks"


class ReleaseError(ValueError):
    """A solved notebook's markers are malformed; the message names notebook and cell."""


def _lines(source) -> list[str]:
    text = "".join(source) if isinstance(source, list) else source
    return text.split("\n")


def blank_solution(source: str, where: str, is_exercise: bool) -> str:
    """``source`` with every solution region replaced by the learner's placeholder."""
    lines = _lines(source)
    out: list[str] = []
    inside = False
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker in (BEGIN, END) and not is_exercise:
            raise ReleaseError(f"{where}: `{marker}` at line {number} is in a cell not tagged "
                               f"`{EXERCISE_TAG}`")
        if marker == BEGIN:
            if inside:
                raise ReleaseError(f"{where}: nested `{BEGIN}` at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif marker == END:
            if not inside:
                raise ReleaseError(f"{where}: `{END}` at line {number} without a `{BEGIN}`")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError(f"{where}: `{BEGIN}` is never closed by `{END}`")
    return "\n".join(out)


def release_notebook(notebook: dict, name: str) -> dict:
    """The learner's copy of a solved notebook (a new dict; the input is left unchanged)."""
    released = copy.deepcopy(notebook)
    for index, cell in enumerate(released["cells"], start=1):
        where = f"{name} cell {index}"
        is_exercise = EXERCISE_TAG in cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = blank_solution(source, where, is_exercise)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    released["metadata"]["kernelspec"] = dict(KERNELSPEC)
    return released


def dumps(notebook: dict) -> str:
    """Serialise as Jupyter does (one-space indent, sorted keys, trailing newline)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def release(solutions: Path = SOLUTIONS, notebooks: Path = NOTEBOOKS, check: bool = False,
            translations: Path = translation.TRANSLATIONS,
            languages: tuple[str, ...] = translation.LANGUAGES) -> list[str]:
    """Write (or with ``check``, compare) every learner notebook, in every language.

    The English notebooks go to ``notebooks/``, each translation to ``notebooks/<language>/``
    (``translation.translate_notebook``; a cell whose translation is missing or stale keeps
    its English text, and ``translation.problems`` says which). Returns the paths, relative
    to ``notebooks``, of the notebooks that differ (``check``) or were written. Raises
    ``ReleaseError`` for malformed markers.
    """
    solutions, notebooks = Path(solutions), Path(notebooks)
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no notebooks in {solutions}")
    differing = []

    def write(folder: Path, name: str, notebook: dict) -> None:
        text = dumps(notebook)
        target = folder / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            differing.append(str(target.relative_to(notebooks)))
            if not check:
                folder.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")

    for source in sources:
        learner = release_notebook(json.loads(source.read_text(encoding="utf-8")), source.name)
        write(notebooks, source.name, learner)
        for language in languages:
            try:
                translated, _ = translation.translate_notebook(learner, source.name, language,
                                                               translations)
            except translation.TranslationError as error:
                raise ReleaseError(f"{source.name}: {error}") from None
            write(notebooks / language, source.name, translated)
    expected = {s.name for s in sources}
    for folder in [notebooks, *(notebooks / language for language in languages)]:
        for stray in sorted(folder.glob("*.ipynb")):
            if stray.name not in expected:
                differing.append(f"{stray.relative_to(notebooks)} (no solved notebook of that "
                                 "name)")
    return differing


def strip_outputs(path: Path) -> bool:
    """Clear a notebook's outputs and execution counts in place; True if it changed."""
    path = Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    notebook["metadata"]["kernelspec"] = dict(KERNELSPEC)
    text = dumps(notebook)
    if path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        return True
    return False
