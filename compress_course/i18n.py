"""Messages in the learner's language: English (the source) or Simplified Chinese.

The visible checks and the grader wrap every sentence a learner reads in ``_()``::

    from compress_course.i18n import _
    _("{name} passed ({cases} cases).").format(name=name, cases=cases)

Placeholders are named, so a translation may put them in another order. The catalog is
a standard gettext one: ``compress_course/locale/compress_course.pot`` (extracted from the
source with babel, ``make messages``) and ``compress_course/locale/zh_CN/LC_MESSAGES/
compress_course.po``, compiled in memory with babel the first time a Chinese message is
asked for (no compiled ``.mo`` file in the repository, so nothing can drift from the
``.po``).

The language, in this order:

1. ``set_language(lang)`` (the grader uses it for ``compress-course grade --lang``);
2. the environment variable ``COMPRESS_COURSE_LANG``: ``en`` or ``zh_CN`` (``zh`` and
   ``zh-CN`` too; anything else warns once and gives English);
3. the notebook the kernel serves: JupyterLab sets ``JPY_SESSION_NAME`` to its path, and a
   path with a ``zh_CN`` folder (``notebooks/zh_CN/...``) means Chinese;
4. otherwise the current directory: Jupyter starts a kernel in its notebook's folder, so a
   kernel whose working directory is called ``zh_CN`` serves a Chinese notebook;
5. English.
"""

from __future__ import annotations

import gettext as _gettext
import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

LANGUAGES = ("en", "zh_CN")
DOMAIN = "compress_course"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENV = "COMPRESS_COURSE_LANG"

_ALIASES = {"en": "en", "en_us": "en", "en-us": "en", "zh_cn": "zh_CN", "zh-cn": "zh_CN",
            "zh": "zh_CN", "zh_hans": "zh_CN", "zh-hans": "zh_CN"}
_override: str | None = None
_warned: set[str] = set()
_catalogs: dict[str, _gettext.NullTranslations] = {}


def normalize(lang: str | None) -> str | None:
    """``"zh-CN"`` -> ``"zh_CN"``, ``"en"`` -> ``"en"``; None for anything else."""
    if not lang:
        return None
    return _ALIASES.get(lang.strip().lower())


def set_language(lang: str | None) -> None:
    """Use ``lang`` (``"en"``, ``"zh_CN"``) from now on; ``None`` goes back to the default
    (environment, notebook, working directory)."""
    global _override
    if lang is None:
        _override = None
        return
    found = normalize(lang)
    if found is None:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    _override = found


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Messages in ``lang`` within the block, in this process and, through
    ``COMPRESS_COURSE_LANG``, in the processes it starts (the grader's); restored after."""
    before = os.environ.get(ENV)
    set_language(lang)
    os.environ[ENV] = _override
    try:
        yield
    finally:
        set_language(None)
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def language() -> str:
    """The language messages are given in now: ``"en"`` or ``"zh_CN"`` (see the module doc)."""
    if _override is not None:
        return _override
    wanted = os.environ.get(ENV, "").strip()
    if wanted:
        found = normalize(wanted)
        if found is not None:
            return found
        if wanted not in _warned:
            _warned.add(wanted)
            warnings.warn(f"{ENV}={wanted!r} is not one of {', '.join(LANGUAGES)} "
                          "(or zh, zh-CN); messages stay in English", stacklevel=2)
        return "en"
    session = os.environ.get("JPY_SESSION_NAME", "").strip()
    if session:
        return "zh_CN" if "zh_CN" in PurePath(session).parts[:-1] else "en"
    try:
        cwd = Path.cwd()
    except OSError:  # the working directory was removed
        return "en"
    return "zh_CN" if cwd.name == "zh_CN" else "en"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(path: Path) -> bytes:
    """The ``.mo`` bytes of the ``.po`` file at ``path`` (babel, in memory)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(path, "rb") as handle:
        catalog = read_po(handle, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def translations(lang: str | None = None) -> _gettext.NullTranslations:
    """The translations of ``lang`` (default: ``language()``), compiled once and kept."""
    lang = lang or language()
    if lang not in _catalogs:
        if lang == "en":
            _catalogs[lang] = _gettext.NullTranslations()
        else:
            _catalogs[lang] = _gettext.GNUTranslations(io.BytesIO(compile_po(po_path(lang))))
    return _catalogs[lang]


def gettext(message: str) -> str:
    """``message`` in the current language (the English itself when it has no translation)."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the current language."""
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it now (module-level constants;
    translate with ``_()`` where it is shown)."""
    return message


_ = gettext
