"""Sphinx configuration of the course book (both languages; ``book/build.py`` runs it).

``book/build.py`` writes the pages to ``book/_build/src/<language>/`` and calls
``sphinx-build -c book -D language=<language>``: one configuration, one build per language.

The Binder links point to one GitHub repository, set once in ``pyproject.toml``::

    [tool.compress_course]
    repository = "OWNER/REPO"

or, for one build, in the environment: ``COMPRESS_COURSE_REPOSITORY=OWNER/REPO make book``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
sys.path.insert(0, str(BOOK))

from search_zh import BigramChinese  # noqa: E402


def course_setting(key: str, default: str) -> str:
    """``[tool.compress_course] key`` in pyproject.toml, or ``COMPRESS_COURSE_<KEY>``."""
    from_env = os.environ.get(f"COMPRESS_COURSE_{key.upper()}")
    if from_env:
        return from_env
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # Python 3.10: the key's line in the section
        section = re.search(r"^\[tool\.compress_course\]$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        value = section and re.search(rf'^{key}\s*=\s*"([^"]*)"', section.group(1), re.M)
        return value.group(1) if value else default
    settings = tomllib.loads(text).get("tool", {}).get("compress_course", {})
    return str(settings.get(key, default))


REPOSITORY = course_setting("repository", "OWNER/REPO")
BINDER = "https://mybinder.org/v2/gh/{repository}/HEAD?urlpath=lab/tree/{notebook}"

project = "Compress & Accelerate"
author = "the Compress & Accelerate authors"
copyright = "the Compress & Accelerate authors"
language = "en"  # book/build.py passes -D language=en or zh_CN

extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]
templates_path = [str(BOOK / "_templates")]
html_static_path = [str(BOOK / "_static")]
html_css_files = ["course.css"]

# Pages are executed once by book/build.py (solutions, outputs kept); never here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Formulas are typeset by MathJax 3.2.2 shipped with the site (book/_build/html/<language>/
# _static/mathjax/, copied by copy_mathjax below), not loaded from a CDN: the book works
# offline. The files come from the PyPI package sphinx-mathjax-offline (requirements-book.txt),
# used as a source of files only: its own Sphinx extension would copy all of its 24 MB.
mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static/
MATHJAX_PACKAGE = "sphinx-mathjax-offline"
# What the site leaves out of the package's MathJax: the other combined components (the pages
# load tex-mml-chtml.js only), and the files for Node.js. Everything that tex-mml-chtml.js may
# load on demand stays (TeX extensions, fonts, the menu, accessibility, the SVG output).
MATHJAX_LEFT_OUT = {"node-main.js", "adaptors", "mml-chtml.js", "mml-svg.js", "tex-chtml.js",
                    "tex-chtml-full.js", "tex-chtml-full-speech.js", "tex-mml-svg.js",
                    "tex-svg.js", "tex-svg-full.js"}
MATHJAX_NOTICE = """MathJax 3.2.2 (https://www.mathjax.org/), copyright the MathJax Consortium, under the
Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0). Copied into the course
book from the PyPI package sphinx-mathjax-offline 0.0.2.
"""


def mathjax_source() -> Path:
    """The MathJax files of the installed ``sphinx-mathjax-offline`` package."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(MATHJAX_PACKAGE)
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"the book ships MathJax from the PyPI package {MATHJAX_PACKAGE}, "
                           "which is not installed: `.venv/bin/python -m pip install -r "
                           "requirements-book.txt` (make book does)") from None
    source = Path(distribution.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (source / mathjax_path.split("/", 1)[1]).is_file():
        raise RuntimeError(f"{source} has no {mathjax_path.split('/', 1)[1]}: "
                           f"reinstall {MATHJAX_PACKAGE} (requirements-book.txt)")
    return source


def copy_mathjax(app, exception):
    """Into the site's _static/mathjax/: MathJax, less MATHJAX_LEFT_OUT (after a build)."""
    if exception is not None or app.builder.format != "html" or "://" in app.config.mathjax_path:
        return
    import shutil

    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=lambda folder, names: [
        name for name in names if Path(folder) == source and name in MATHJAX_LEFT_OUT])
    (target / "NOTICE.txt").write_text(MATHJAX_NOTICE, encoding="utf-8")


# No page source, and no notebook download, anywhere in the site.
html_copy_source = False
html_show_sourcelink = False

html_theme = "sphinx_book_theme"
html_favicon = str(BOOK / "_static" / "favicon.svg")
# (an empty default makes the theme's script log "Got invalid theme mode" on a first visit)
html_context = {"default_mode": "auto"}
html_title = "Compress & Accelerate"
html_last_updated_fmt = None
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_source_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {},
    "article_header_end": ["course-links.html", "article-header-buttons.html"],
}

LABELS = {
    "en": {"other": "zh_CN", "label": "中文", "title": "这一课的中文版", "hreflang": "zh-CN",
           "binder": "Open in Binder",
           "binder_title": "Open this lesson in JupyterLab on Binder"},
    "zh_CN": {"other": "en", "label": "English", "title": "This lesson in English",
              "hreflang": "en", "binder": "在 Binder 中打开",
              "binder_title": "在 Binder 的 JupyterLab 中打开这一课"},
}


def page_links(app, pagename, templatename, context, doctree):
    """The language switch (same page, other language) and the lesson's Binder link."""
    language = app.config.language if app.config.language in LABELS else "en"
    labels = LABELS[language]
    up = "../" * (pagename.count("/") + 1)
    context["cc_language"] = {**labels,
                              "url": f"{up}{labels['other']}/{pagename}.html"}
    context["cc_binder"] = None
    if pagename.startswith("lessons/"):
        folder = "notebooks/" if language == "en" else f"notebooks/{language}/"
        notebook = folder + pagename.split("/", 1)[1] + ".ipynb"
        context["cc_binder"] = {"url": BINDER.format(repository=REPOSITORY, notebook=notebook),
                                "notebook": notebook, "label": labels["binder"],
                                "title": labels["binder_title"]}


def setup(app):
    app.add_search_language(BigramChinese)
    app.connect("html-page-context", page_links)
    if "://" not in mathjax_path:
        mathjax_source()  # fail at the start of the build, not after rendering every page
    app.connect("build-finished", copy_mathjax)
