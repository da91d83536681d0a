"""Chinese search for the course book without a word segmenter: overlapping character bigrams.

Sphinx's own ``zh`` search language splits Chinese text with jieba when jieba is installed
and otherwise indexes **no** Chinese word at all (only Latin words). Rather than depend on a
dictionary-based segmenter, the book indexes every run of Chinese characters as its
overlapping pairs (量化感知训练 -> 量化 化感 感知 知训 训练), as CJK full-text search engines
commonly do, and the search page splits a query the same way (``splitQuery`` below), so a
query finds every page that holds all its pairs. A one-character query matches nothing
(Sphinx drops terms shorter than two characters). Latin words are indexed as by Sphinx's
``zh`` language (English stemming).
"""

from __future__ import annotations

import re

from sphinx.search.zh import SearchChinese

# CJK Unified Ideographs (+ extension A) and the compatibility block.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RUN = re.compile(f"[{HAN}]+")


def bigrams(text: str) -> list[str]:
    """Overlapping character pairs of every run of Chinese characters in ``text``."""
    pairs = []
    for run in HAN_RUN.findall(text):
        if len(run) == 1:
            pairs.append(run)
        pairs += [run[i:i + 2] for i in range(len(run) - 1)]
    return pairs


class BigramChinese(SearchChinese):
    """Sphinx's ``zh`` search language, splitting Chinese into character bigrams."""

    lang = "zh"
    # Sphinx 9.0.4 writes `window.Stemmer = <language_name>Stemmer` into language_data.js but
    # ships only english-stemmer.js for zh: its own zh search fails with "ChineseStemmer is
    # not defined". Latin words are stemmed in English (as in Python, `stem` below).
    language_name = "English"
    # (no < > & in this code: Sphinx may HTML-escape it into language_data.js)
    js_splitter_code = r"""
function splitQuery(query) {
  const terms = [];
  for (const part of query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)) {
    if (!part) continue;
    for (const piece of part.split(/([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)/u)) {
      if (!piece) continue;
      if (/^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$/u.test(piece)) {
        if (piece.length === 1) terms.push(piece);
        for (let i = 0; i !== piece.length - 1; i++) terms.push(piece.slice(i, i + 2));
      } else {
        terms.push(piece);
      }
    }
  }
  return terms;
}
"""

    def split(self, input: str) -> list[str]:
        latin = [term.strip() for term in self.latin1_letters.findall(input)]
        self.latin_terms.update(latin)
        return bigrams(input) + latin
