"""The built course book, in a real browser (headless Chromium driven by Playwright).

Run by `make book` after the build (`COMPRESS_COURSE_BOOK_TEST=1 pytest tests/book`); not
part of `make test` (tests/book/conftest.py leaves this file out unless that variable is
set). Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium
chromium-driver`) and the Playwright package from requirements-book.txt; it fails, never
skips, without them. Never run `playwright install`: the test uses the system Chromium.

The site (book/_build/html) is served on a free localhost port. Checked:
- the language chooser, both languages' index and every lesson page in both languages load,
  with no console error and no failed request, and without a single request outside the
  local server (the book works offline: MathJax ships with the site);
- every formula of every lesson page, in both languages, is typeset by MathJax (each
  `.math` element holds a rendered `mjx-container`, no `mjx-merror`), and no raw TeX
  (`\\(`, `\\[`, `$$`, `$x^2$`) is left in a page's visible text outside its code;
- every <img> has loaded (naturalWidth > 0);
- every same-site link answers HTTP 200 and its #anchor exists on the target page;
- the language switch of every page leads to the same page in the other language (and one
  click is followed in the browser);
- the Binder link of every lesson page opens the same lesson, in the page's language, in
  the repository set in pyproject.toml ([tool.compress_course] repository);
- search finds each lesson from a word of its title, in both languages (Chinese words are
  split into character pairs, book/search_zh.py);
- no solution code anywhere: no distinctive line of any `### BEGIN SOLUTION` region of
  solutions/ (one that the learner notebooks do not show anyway) appears in any page's text
  nor in any file of the site;
- every exercise cell shows the learner's stub, without outputs, and every cell tagged
  `book-hide-output` in solutions/ shows the book's note instead of its output.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import json
import re
import socketserver
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "book" / "_build" / "html"
SOURCES = ROOT / "book" / "_build" / "src"
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
LANGUAGES = ("en", "zh_CN")
OTHER = {"en": "zh_CN", "zh_CN": "en"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MIN_LINE = 25
HIDDEN_NOTE = {"en": "Output not shown in the book", "zh_CN": "书中不显示此输出"}
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

LESSONS = sorted(path.stem for path in SOLUTIONS.glob("*.ipynb"))
PAGES = (["index.html"] + [f"{language}/index.html" for language in LANGUAGES]
         + [f"{language}/lessons/{name}.html" for language in LANGUAGES for name in LESSONS])


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def tags_of(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def squash(text: str) -> str:
    return " ".join(text.split())


def load_book_conf():
    spec = importlib.util.spec_from_file_location("course_book_conf", ROOT / "book" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def solution_lines() -> dict[str, list[str]]:
    """Per lesson, the distinctive lines of its solution regions: stripped, at least 25
    characters, found neither outside a solution region of a solved notebook nor anywhere in
    a learner notebook (English or translated)."""
    inside: dict[str, set[str]] = {}
    outside: set[str] = set()
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        lines = inside.setdefault(path.stem, set())
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            in_region = False
            for line in source_of(cell).split("\n"):
                marker = line.strip()
                if marker == BEGIN:
                    in_region = True
                elif marker == END:
                    in_region = False
                elif in_region:
                    lines.add(marker)
                else:
                    outside.add(marker)
    # What a learner's notebook shows (markdown quoting code, stubs) is public anyway.
    public = "\n".join(squash(source_of(cell))
                       for path in sorted(NOTEBOOKS.glob("*.ipynb")) + sorted(
                           NOTEBOOKS.glob("*/*.ipynb"))
                       for cell in json.loads(path.read_text(encoding="utf-8"))["cells"])
    return {name: sorted(squash(line) for line in lines
                         if len(line) >= MIN_LINE and line not in outside
                         and squash(line) not in public)
            for name, lines in inside.items()}


# In a page, after load: wait for MathJax's first typesetting and for the fonts, then say
# how its formulas came out. Pages without math do not load MathJax (Sphinx adds it only
# where there is math), so `mathjax` is null there.
MATH_REPORT = """async () => {
    const mathjax = window.MathJax && window.MathJax.startup ? window.MathJax : null;
    if (mathjax) { await mathjax.startup.promise; }
    await document.fonts.ready;
    const maths = Array.from(document.querySelectorAll('.math'));
    const unrendered = maths.filter((el) => !el.querySelector('mjx-container'))
                            .map((el) => el.textContent.trim().slice(0, 80));
    // visible text outside code, formulas and scripts: raw TeX must not be left there
    const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const prose = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement.closest(skip)) { prose.push(node.textContent); }
    }
    return {
        version: mathjax ? mathjax.version : null,
        formulas: maths.length,
        containers: document.querySelectorAll('mjx-container').length,
        unrendered: unrendered,
        errors: Array.from(document.querySelectorAll('mjx-merror'))
                     .map((el) => el.closest('mjx-container').parentElement.textContent
                                     .trim().slice(0, 80)),
        prose: prose.join(' '),
    };
}"""
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]*[\\^_{}][^$\n]*\$|\\begin\{")


def math_problems(report: dict, lesson: bool) -> list[str]:
    """What is wrong with a page's formulas (MATH_REPORT's answer); [] when nothing."""
    problems = []
    if lesson and not report["formulas"]:
        problems.append("no formula on a lesson page (every lesson has some)")
    if report["formulas"] and not report["version"]:
        problems.append(f"{report['formulas']} formulas but MathJax did not load")
    if report["unrendered"]:
        problems.append(f"{len(report['unrendered'])} of {report['formulas']} formulas not "
                        f"typeset, e.g. {report['unrendered'][:3]}")
    if report["errors"]:
        problems.append(f"{len(report['errors'])} formulas with a TeX error, e.g. "
                        f"{report['errors'][:3]}")
    raw = [match.group(0) for match in RAW_TEX.finditer(report["prose"])]
    if raw:
        problems.append(f"raw TeX in the visible text: {raw[:5]}")
    return problems


def guard_offline(page, origin: str) -> list[str]:
    """Refuse (and record) every request of ``page`` that leaves the local server."""
    outside: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin:
            outside.append(url)
            request_route.abort()
        else:
            request_route.continue_()

    page.route("**/*", route)
    return outside


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value)


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site() -> Path:
    missing = [page for page in PAGES if not (HTML / page).is_file()]
    if missing:
        pytest.fail(f"the book is not built ({len(missing)} pages missing, e.g. "
                    f"{HTML.relative_to(ROOT)}/{missing[0]}): run `make book`")
    return HTML


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: the book's browser test needs "
                    "it. On Debian/Ubuntu, as root: `apt-get install -y chromium "
                    "chromium-driver` (do not run `playwright install`).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `.venv/bin/python -m pip install -r "
                    "requirements-book.txt` (or run `make book`, which installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def visits(browser, server) -> dict[str, dict]:
    """Load every page once; what the tests below need from each."""
    results = {}
    context = browser.new_context()
    for path in PAGES:
        page = context.new_page()
        problems: list[str] = []
        origin = urlsplit(server).netloc

        outside = guard_offline(page, origin)

        def on_console(message, problems=problems):
            if message.type == "error":
                where = (message.location or {}).get("url", "")
                problems.append(f"console error: {message.text} ({where})")

        def on_failed(request, problems=problems):
            problems.append(f"request failed: {request.url} ({request.failure})")

        def on_response(response, problems=problems):
            if response.status >= 400:
                problems.append(f"HTTP {response.status}: {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error, problems=problems: problems.append(f"page error: "
                                                                             f"{error}"))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.goto(server + path, wait_until="load")
        broken_images = page.evaluate("""async () => {
            const images = Array.from(document.images);
            for (const image of images) { image.loading = "eager"; }
            await Promise.all(images.map((image) => image.decode().catch(() => null)));
            return images.filter((image) => image.naturalWidth === 0)
                         .map((image) => image.currentSrc || image.src);
        }""")
        math = page.evaluate(MATH_REPORT)
        problems += [f"request outside the site: {url}" for url in outside]
        results[path] = {
            "url": page.url,
            "problems": problems,
            "outside": outside,
            "math": math,
            "images": page.evaluate("document.images.length"),
            "broken_images": broken_images,
            "links": page.evaluate("Array.from(document.querySelectorAll('a[href]'))"
                                   ".map((a) => a.href)"),
            "switch": page.evaluate("(() => { const a = document.getElementById("
                                    "'cc-language-switch'); return a ? a.href : null; })()"),
            "binder": page.evaluate("(() => { const a = document.getElementById('cc-binder');"
                                    " return a ? a.getAttribute('href') : null; })()"),
            "lang": page.evaluate("document.documentElement.lang"),
            "text": page.evaluate("document.body.innerText"),
            "title": page.evaluate("(() => { const h = document.querySelector('h1');"
                                   " return h ? h.innerText : ''; })()"),
        }
        page.close()
    context.close()
    return results


# ------------------------------------------------------------------------------ tests


def test_every_page_loads_cleanly(visits):
    problems = {path: visit["problems"] for path, visit in visits.items() if visit["problems"]}
    assert not problems, f"pages with errors: {json.dumps(problems, indent=1)}"


def test_no_request_leaves_the_site(visits):
    outside = {path: visit["outside"] for path, visit in visits.items() if visit["outside"]}
    assert not outside, ("requests outside the local server (the book must work offline):\n"
                         + json.dumps(outside, indent=1))


def test_every_formula_is_typeset_offline(visits):
    wrong = {}
    for path, visit in visits.items():
        problems = math_problems(visit["math"], lesson="/lessons/" in path)
        if problems:
            wrong[path] = problems
    assert not wrong, "formulas not rendered:\n" + json.dumps(wrong, indent=1,
                                                               ensure_ascii=False)
    typeset = sum(visit["math"]["containers"] for visit in visits.values())
    versions = {visit["math"]["version"] for visit in visits.values()} - {None}
    assert typeset >= 10 * len(LESSONS), f"only {typeset} typeset formulas in the site"
    assert len(versions) == 1 and versions.pop().startswith("3."), versions


def test_the_math_and_offline_checks_see_a_page_without_local_mathjax(browser, server):
    """The checks above are not blind: a lesson page whose MathJax comes from a CDN (as
    Sphinx's default has it) is caught twice: the request leaves the site, and its formulas
    stay raw TeX."""
    path = f"en/lessons/{LESSONS[1]}.html"
    original = (HTML / path).read_text(encoding="utf-8")
    # (Sphinx adds ?v=<checksum> when the file was already in the output folder)
    local = re.compile(r'"\.\./_static/mathjax/tex-mml-chtml\.js(\?v=\w+)?"')
    assert local.search(original), f"{path} does not load {local.pattern}"
    cdn = local.sub('"https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"', original)
    page = browser.new_page()
    outside = guard_offline(page, urlsplit(server).netloc)
    page.route(server + path, lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=cdn))
    page.goto(server + path, wait_until="load")
    report = page.evaluate(MATH_REPORT)
    page.close()
    assert outside == ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"], outside
    problems = math_problems(report, lesson=True)
    assert any("MathJax did not load" in problem for problem in problems), problems
    assert any("not typeset" in problem for problem in problems), problems
    # and raw TeX in the prose is seen (here, with every formula typeset)
    seen = math_problems({**report, "unrendered": [], "version": "3",
                          "prose": "the norm \\(\\|W\\|_F\\) and $x^2$"}, lesson=True)
    assert seen == ["raw TeX in the visible text: ['\\\\(', '\\\\)', '$x^2$']"], seen


def test_no_missing_images(visits):
    broken = {path: visit["broken_images"] for path, visit in visits.items()
              if visit["broken_images"]}
    assert not broken, f"images that did not load: {broken}"
    plotted = sum(visit["images"] for path, visit in visits.items() if "/lessons/" in path)
    assert plotted >= 2 * len(LESSONS), (f"only {plotted} images on the lesson pages: "
                                         "the outputs' plots are missing")


def test_internal_links_resolve(visits, server):
    origin = urlsplit(server).netloc
    targets: dict[str, set[str]] = {}
    for path, visit in visits.items():
        for href in visit["links"]:
            parts = urlsplit(href)
            if parts.netloc == origin:
                targets.setdefault(parts._replace(fragment="", query="").geturl(), set())
                if parts.fragment:
                    targets[parts._replace(fragment="", query="").geturl()].add(
                        (parts.fragment, path))
    assert len(targets) >= 2 * len(LESSONS), f"only {len(targets)} same-site links found"
    broken = []
    for url, fragments in sorted(targets.items()):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, ""
        if status != 200:
            sources = sorted({source for _, source in fragments}) or ["(a page)"]
            broken.append(f"{url}: HTTP {status} (linked from {sources[0]})")
            continue
        if fragments and url.endswith((".html", "/")):
            parser = Anchors()
            parser.feed(body)
            for fragment, source in sorted(fragments):
                anchor = unquote(fragment)
                if anchor not in parser.ids:
                    broken.append(f"{url}#{fragment}: no such anchor (linked from {source})")
    assert not broken, "broken same-site links:\n" + "\n".join(broken[:40])


def test_language_switch_leads_to_the_same_page(visits, server, browser):
    wrong = []
    for path, visit in visits.items():
        if path == "index.html":
            continue
        language, rest = path.split("/", 1)
        expected = server + f"{OTHER[language]}/{rest}"
        if visit["switch"] != expected:
            wrong.append(f"{path}: switch goes to {visit['switch']}, expected {expected}")
        expected_lang = {"en": "en", "zh_CN": "zh-CN"}[language]
        if visit["lang"] != expected_lang:
            wrong.append(f"{path}: <html lang={visit['lang']!r}>, expected {expected_lang!r}")
    assert not wrong, "\n".join(wrong)
    page = browser.new_page()
    page.goto(server + f"en/lessons/{LESSONS[1]}.html")
    page.click("#cc-language-switch")
    page.wait_for_url(server + f"zh_CN/lessons/{LESSONS[1]}.html")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.click("#cc-language-switch")
    page.wait_for_url(server + f"en/lessons/{LESSONS[1]}.html")
    page.close()


def test_binder_links_open_the_same_lesson_in_the_page_language(visits):
    repository = load_book_conf().REPOSITORY
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", repository), repository
    wrong = []
    for language in LANGUAGES:
        for name in LESSONS:
            path = f"{language}/lessons/{name}.html"
            notebook = f"notebooks/{name}.ipynb" if language == "en" else \
                f"notebooks/{language}/{name}.ipynb"
            expected = (f"https://mybinder.org/v2/gh/{repository}/HEAD"
                        f"?urlpath=lab/tree/{notebook}")
            if visits[path]["binder"] != expected:
                wrong.append(f"{path}: Binder link {visits[path]['binder']}, expected {expected}")
            if not (ROOT / notebook).is_file():
                wrong.append(f"{path}: {notebook} does not exist in the repository")
    assert not wrong, "\n".join(wrong)


def search_term(language: str, title: str) -> str:
    """A word of a lesson's title to search for: the words after its dash."""
    subject = re.split(r"\s+[—-]\s+", title, maxsplit=1)[-1]
    if language == "en":
        words = [word for word in re.findall(r"[A-Za-z]{5,}", subject)
                 if word.lower() not in {"baseline", "models"}]
        return words[0] if words else subject.split()[0]
    runs = HAN.findall(subject)
    assert runs, f"the Chinese title {title!r} has no Chinese word to search for"
    return runs[0][:4]


@pytest.mark.parametrize("language", LANGUAGES)
def test_search_finds_each_lesson(visits, server, browser, language):
    page = browser.new_page()
    outside = guard_offline(page, urlsplit(server).netloc)
    missed = []
    for name in LESSONS:
        title = visits[f"{language}/lessons/{name}.html"]["title"]
        term = search_term(language, title)
        page.goto(server + f"{language}/search.html?q={quote(term)}")
        page.wait_for_function("() => { const s = document.getElementById('search-results');"
                               " return s && s.querySelector('p.search-summary, "
                               ".search-summary') !== null; }", timeout=60_000)
        found = page.evaluate("Array.from(document.querySelectorAll('#search-results a'))"
                              ".map((a) => a.getAttribute('href'))")
        if not any(f"lessons/{name}.html" in href for href in found):
            missed.append(f"{term!r} (from {title!r}) did not find lessons/{name}.html; "
                          f"results: {found[:5]}")
    page.close()
    assert not missed, f"{language} search:\n" + "\n".join(missed)
    assert not outside, f"requests outside the site from the search page: {outside}"


def test_no_solution_code_anywhere(visits, site):
    lines = solution_lines()
    too_few = [name for name in LESSONS if not lines.get(name)]
    assert not too_few, f"no distinctive solution line found for {too_few}: the check is blind"
    needles = sorted({line for name in LESSONS for line in lines[name]})
    leaks = []
    for path, visit in visits.items():
        text = squash(visit["text"])
        leaks += [f"page {path}: {line!r}" for line in needles if line in text]
    for file in sorted(site.rglob("*")):
        if not file.is_file():
            continue
        raw = file.read_bytes().decode("utf-8", "replace")
        texts = [squash(raw), squash(html.unescape(raw))]
        if file.suffix == ".html":
            parser = Text()
            parser.feed(raw)
            texts.append(squash("".join(parser.parts)))
        if file.suffix in (".js", ".json", ".ipynb"):
            texts.append(squash(raw.replace("\\n", "\n").replace('\\"', '"')))
        for line in needles:
            if any(line in text for text in texts):
                leaks.append(f"file {file.relative_to(site)}: {line!r}")
    assert not leaks, "solution code in the book:\n" + "\n".join(leaks[:40])


def test_the_check_for_solution_code_sees_a_planted_line():
    """The search above is not blind: a solution line in a page's text is found."""
    name = LESSONS[0]
    line = solution_lines()[name][0]
    text = squash("some output\n    " + line + "\n")
    assert line in text


def test_exercises_show_stubs_and_hidden_outputs_show_the_note(visits):
    wrong = []
    for language in LANGUAGES:
        for name in LESSONS:
            solved = json.loads((SOLUTIONS / f"{name}.ipynb").read_text(encoding="utf-8"))
            page_nb = json.loads((SOURCES / language / "lessons" / f"{name}.ipynb")
                                 .read_text(encoding="utf-8"))
            tags = {cell.get("id"): tags_of(cell) for cell in solved["cells"]}
            regions = sum(source_of(cell).count(BEGIN) for cell in solved["cells"])
            hidden = 0
            for cell in page_nb["cells"]:
                cell_tags = tags.get(cell.get("id"), [])
                if cell["cell_type"] != "code":
                    continue
                if "exercise" in cell_tags:
                    if cell["outputs"] or BEGIN in source_of(cell):
                        wrong.append(f"{language}/{name} exercise cell {cell['id']}: "
                                     "outputs or solution shown")
                elif "book-hide-output" in cell_tags:
                    hidden += 1
                    text = json.dumps(cell["outputs"], ensure_ascii=False)
                    if len(cell["outputs"]) != 1 or HIDDEN_NOTE[language] not in text:
                        wrong.append(f"{language}/{name} cell {cell['id']}: tagged "
                                     "book-hide-output but its output is shown")
            text = visits[f"{language}/lessons/{name}.html"]["text"]
            if text.count("raise NotImplementedError()") < regions:
                wrong.append(f"{language}/{name}: {text.count('raise NotImplementedError()')} "
                             f"stubs on the page, {regions} solution regions in solutions/")
            if text.count(HIDDEN_NOTE[language]) != hidden:
                wrong.append(f"{language}/{name}: {text.count(HIDDEN_NOTE[language])} "
                             f"hidden-output notes on the page, {hidden} tagged cells")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------- JupyterLab (make lab, Binder)


def test_jupyterlab_starts_with_the_course_settings(tmp_path):
    """binder/overrides.json, where `make lab` and binder/postBuild put it (the application
    settings folder, <sys.prefix>/share/jupyter/lab/settings), turns off the news prompt."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from jupyterlab.commands import get_app_dir

    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text(encoding="utf-8"))
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert Path(get_app_dir()) == Path(sys.prefix) / "share" / "jupyter" / "lab"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json" in makefile
    assert 'share/jupyter/lab/settings"' in (ROOT / "binder" / "postBuild").read_text()

    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(overrides), encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "course-book-test"
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--LabApp.app_settings_dir={settings}", f"--ServerApp.root_dir={ROOT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        url = (f"http://127.0.0.1:{port}/lab/api/settings/"
               f"@jupyterlab/apputils-extension:notification?token={token}")
        deadline, answer = time.monotonic() + 90, None
        while answer is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert answer is not None, "jupyter lab did not answer within 90 s"
        defaults = {key: value["default"] for key, value in answer["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false", defaults
        assert defaults["checkForUpdates"] is False, defaults
    finally:
        lab.terminate()
        lab.wait(timeout=30)
