"""Build the course book: every lesson, English and 简体中文, as a static HTML site.

    .venv/bin/python book/build.py            # what `make book` runs (then the browser test)
    .venv/bin/python book/build.py --jobs 2   # execute two solved notebooks at a time

Steps:

1. **Execute** every solved notebook (``solutions/NN_name.ipynb``) once, with nbclient, the
   environment CI uses (``COMPRESS_COURSE_STRICT=1``, ``COMPRESS_COURSE_QUIET=1``) and the
   notebook's folder as working directory. The executed copy is cached in
   ``book/_build/executed/`` under a hash of the solved notebook, the solved notebooks it
   loads (the capstone loads lessons 01 and 02) and every file of the ``compress_course``
   package, so a rebuild executes only what changed.
2. **Compose** one page per lesson and language from the *learner's* notebook
   (``notebooks/NN_name.ipynb`` or ``notebooks/<language>/NN_name.ipynb``: stubs, translated
   markdown) with the outputs of the executed solution, matched by cell id. Outputs are
   left out of every cell tagged ``exercise`` (the learner's stub), and replaced by a short
   note in every cell tagged ``book-hide-output`` in ``solutions/`` (an output that would
   give an exercise's answer away). A non-exercise code cell must read the same in both
   notebooks, so no solution code reaches a page.
3. **Render** each language with Sphinx + MyST-NB (no execution at this step) and
   sphinx-book-theme, with ``book/conf.py``, and copy the HTML into the site,
   ``book/_build/html/<language>/``;
   ``book/_build/html/index.html`` lets the reader choose the language.

Open ``book/_build/html/index.html``, or serve the folder:
``.venv/bin/python -m http.server -d book/_build/html 8000``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
EXECUTED = BUILD / "executed"
SOURCES = BUILD / "src"
RENDERED = BUILD / "render"
HTML = BUILD / "html"
DOCTREES = BUILD / "doctrees"
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "compress_course"

LANGUAGES = ("en", "zh_CN")
EXERCISE_TAG, HIDE_TAG = "exercise", "book-hide-output"
CELL_TIMEOUT = 300

HIDDEN_NOTE = {
    "en": "(Output not shown in the book: it would give an exercise's answer away. "
          "Run the notebook to see it.)",
    "zh_CN": "（书中不显示此输出：它会泄露练习的答案。运行笔记本即可看到。）",
}
INDEX_TEXT = {
    "en": """# Compress & Accelerate

An open, hands-on course on making neural networks **smaller and faster**: pruning,
quantization, knowledge distillation, low-rank factorization and acceleration.

Each page is a lesson as a learner gets it, shown with the outputs and plots of a run of the
solved notebook. Exercise cells show the stub you fill in, without outputs. Open a lesson in
JupyterLab on Binder with the *Binder* link at the top of its page, or run it on your own
machine with `make lab`.

Work through the lessons in order: later lessons build on earlier ones.
""",
    "zh_CN": """# Compress & Accelerate（压缩与加速）

一门动手实践的开放课程，讲授如何让神经网络**更小、更快**：剪枝、量化、知识蒸馏、低秩分解与加速。

每一页都是学习者拿到的一课，并附上已解答笔记本运行得到的输出和图。练习单元只显示待你补全的代码框架，不含输出。
点击页面顶部的 *Binder* 链接即可在 Binder 的 JupyterLab 中打开该课，也可以在自己的电脑上用 `make lab` 运行。

请按顺序学习：后面的课程会用到前面课程的内容。
""",
}
TOC_CAPTION = {"en": "Lessons", "zh_CN": "课程"}
CHOOSER = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compress &amp; Accelerate — the course book</title>
<link rel="icon" href="en/_static/favicon.svg" type="image/svg+xml">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; }}
a {{ display: block; font-size: 1.4rem; margin: 1rem 0; }}
</style>
</head>
<body>
<h1>Compress &amp; Accelerate</h1>
<p>The course book: every lesson with its outputs and plots. Choose a language.</p>
<p lang="zh-CN">课程书：每一课及其输出和图。请选择语言。</p>
<a id="cc-book-en" href="en/index.html" hreflang="en">English</a>
<a id="cc-book-zh_CN" href="zh_CN/index.html" hreflang="zh-CN" lang="zh-CN">简体中文</a>
{lessons}
</body>
</html>
"""


def log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def tags_of(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def lessons() -> list[str]:
    names = sorted(path.stem for path in SOLUTIONS.glob("*.ipynb"))
    if not names:
        raise SystemExit(f"no solved notebooks in {SOLUTIONS}")
    return names


def package_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts
                  and path.suffix not in (".pyc", ".mo"))


def execution_key(name: str) -> str:
    """Hash of what an execution of ``name`` depends on (the cache key)."""
    digest = hashlib.sha256()
    notebook = SOLUTIONS / f"{name}.ipynb"
    text = notebook.read_text(encoding="utf-8")
    loaded = sorted(set(re.findall(r"\d\d_[A-Za-z0-9_]+\.ipynb", text)) - {notebook.name})
    for path in [notebook, *(SOLUTIONS / other for other in loaded)]:
        if path.exists():  # the code only: a cell's tags do not change what it prints
            code = [source_of(cell) for cell in read(path)["cells"] if cell["cell_type"] == "code"]
            digest.update(path.name.encode() + b"\0" + json.dumps(code).encode() + b"\0")
    for path in package_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def execute(name: str) -> tuple[str, float]:
    """Execute ``solutions/<name>.ipynb`` into the cache; returns (cached path, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["COMPRESS_COURSE_STRICT"] = "1"
    os.environ["COMPRESS_COURSE_QUIET"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    key = execution_key(name)
    target = EXECUTED / f"{name}.{key}.ipynb"
    notebook = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    started = time.perf_counter()
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(SOLUTIONS)}})
    EXECUTED.mkdir(parents=True, exist_ok=True)
    # The kernel process's own output (ipykernel's warnings, the profiler's trace lines; not
    # the cells' outputs) goes to a log beside the runs rather than into the build's output.
    kernel_log = EXECUTED / f"{name}.kernel.log"
    with open(kernel_log, "w", encoding="utf-8") as log_file:
        try:
            client.execute(stdout=log_file, stderr=log_file)
        except Exception as error:
            raise RuntimeError(f"{error}\n(the kernel's own output: "
                               f"{kernel_log.relative_to(ROOT)})") from None
    seconds = time.perf_counter() - started
    for stale in EXECUTED.glob(f"{name}.*.ipynb"):
        stale.unlink()
    nbformat.write(notebook, target)
    return str(target), seconds


def executed_path(name: str) -> Path:
    return EXECUTED / f"{name}.{execution_key(name)}.ipynb"


def latest_execution(name: str) -> Path | None:
    runs = sorted(EXECUTED.glob(f"{name}.*.ipynb"), key=lambda path: path.stat().st_mtime)
    return runs[-1] if runs else None


def execute_all(names: list[str], jobs: int, stale_ok: bool = False) -> dict[str, dict]:
    done = {name: str(executed_path(name)) for name in names}
    if stale_ok:
        for name in names:
            latest = latest_execution(name)
            if latest is not None and not Path(done[name]).exists():
                log(f"  {name}: using the last execution ({latest.name}; stale)")
                done[name] = str(latest)
    todo = [name for name in names if not Path(done[name]).exists()]
    if todo:
        log(f"executing {len(todo)} solved notebook(s): {', '.join(todo)} ({jobs} at a time)")
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {name: pool.submit(execute, name) for name in todo}
            for name, future in futures.items():
                try:
                    done[name], seconds = future.result()
                except Exception as error:  # nbclient's CellExecutionError names the cell
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise SystemExit(f"[book] executing solutions/{name}.ipynb failed (the "
                                     f"lessons after it were not executed):\n{error}") from None
                log(f"  {name}: {seconds:.0f} s")
    else:
        log("every solved notebook's execution is cached" + (" (or reused: --stale-ok)"
                                                             if stale_ok else ""))
    # (the paths of this run: a package file edited meanwhile changes the key, not these)
    return {name: read(Path(done[name])) for name in names}


def learner_path(language: str, name: str) -> Path:
    folder = NOTEBOOKS if language == "en" else NOTEBOOKS / language
    return folder / f"{name}.ipynb"


def hidden_output(language: str) -> list[dict]:
    return [{"output_type": "stream", "name": "stdout", "text": HIDDEN_NOTE[language] + "\n"}]


def compose(language: str, name: str, executed: dict) -> dict:
    """The page notebook: the learner's cells with the executed solution's outputs."""
    learner = read(learner_path(language, name))
    solved = read(SOLUTIONS / f"{name}.ipynb")
    solved_tags = {cell.get("id"): tags_of(cell) for cell in solved["cells"]}
    ran = {cell.get("id"): cell for cell in executed["cells"]}
    page = copy.deepcopy(learner)
    for index, cell in enumerate(page["cells"], start=1):
        cell_id = cell.get("id")
        where = f"{learner_path(language, name).relative_to(ROOT)} cell {index} (id {cell_id})"
        if cell_id not in ran or cell_id not in solved_tags:
            raise SystemExit(f"[book] {where} has no cell of that id in solutions/{name}.ipynb: "
                             "run `compress-course release`")
        if cell["cell_type"] != "code":
            continue
        tags = solved_tags[cell_id]
        if EXERCISE_TAG in tags:
            cell["outputs"], cell["execution_count"] = [], None
            continue
        if source_of(cell) != source_of(ran[cell_id]):
            raise SystemExit(f"[book] {where}: the code differs from the solved notebook's; "
                             "run `compress-course release`")
        cell["execution_count"] = ran[cell_id].get("execution_count")
        if HIDE_TAG in tags:
            cell["outputs"] = hidden_output(language)
        else:
            cell["outputs"] = copy.deepcopy(ran[cell_id].get("outputs", []))
    page["metadata"] = {"kernelspec": learner["metadata"].get("kernelspec", {}),
                        "language_info": executed["metadata"].get("language_info", {})}
    return page


def write_if_changed(path: Path, text: str) -> None:
    """Write only when the text changes, so Sphinx rebuilds only what changed."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def title_of(notebook: dict) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for line in source_of(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "?"


def write_sources(names: list[str], executed: dict[str, dict]) -> dict[str, dict[str, str]]:
    titles: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        folder = SOURCES / language
        titles[language] = {}
        for name in names:
            page = compose(language, name, executed[name])
            titles[language][name] = title_of(page)
            write_if_changed(folder / "lessons" / f"{name}.ipynb",
                             json.dumps(page, indent=1, ensure_ascii=False) + "\n")
        for stray in (folder / "lessons").glob("*.ipynb"):
            if stray.stem not in names:
                stray.unlink()
        toc = "\n".join(f"lessons/{name}" for name in names)
        write_if_changed(folder / "index.md",
                         INDEX_TEXT[language] + "\n```{toctree}\n:maxdepth: 1\n"
                         f":caption: {TOC_CAPTION[language]}\n\n{toc}\n```\n")
    return titles


def render(language: str, quiet: bool) -> None:
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(BOOK),
               "-d", str(DOCTREES / language), "-D", f"language={language}",
               "--fail-on-warning", "--keep-going", "-j", "1",
               str(SOURCES / language), str(RENDERED / language / "html")]
    if quiet:
        command.insert(3, "-q")
    log(f"rendering {language}")
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"[book] sphinx-build failed for {language} (exit {result.returncode})")
    # Into the site: the HTML only (MyST-NB writes its copies of the page notebooks to
    # jupyter_execute/ beside its output folder, which therefore is not the site itself).
    shutil.rmtree(HTML / language, ignore_errors=True)
    shutil.copytree(RENDERED / language / "html", HTML / language)


def write_chooser(names: list[str], titles: dict[str, dict[str, str]]) -> None:
    rows = "\n".join(
        f'<p>{titles["en"][name]} · '
        f'<a style="display:inline;font-size:1rem" href="en/lessons/{name}.html">English</a> · '
        f'<a style="display:inline;font-size:1rem" href="zh_CN/lessons/{name}.html" '
        f'lang="zh-CN">中文</a></p>'
        for name in names)
    write_if_changed(HTML / "index.html", CHOOSER.format(lessons=rows))
    write_if_changed(HTML / ".nojekyll", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1,
                        help="solved notebooks executed at a time (default 1: the lessons' "
                             "timings stay as honest as on a quiet machine)")
    parser.add_argument("--stale-ok", action="store_true",
                        help="reuse a solved notebook's last execution even when the notebook "
                             "or the package changed since (to work on the book's look; the "
                             "outputs may then not match the code)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's full output")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    names = lessons()
    executed = execute_all(names, max(1, args.jobs), args.stale_ok)
    titles = write_sources(names, executed)
    for language in LANGUAGES:
        render(language, quiet=not args.verbose)
    write_chooser(names, titles)
    log(f"built {HTML.relative_to(ROOT)}/index.html in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
