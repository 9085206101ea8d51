"""Chinese and pinyin search without ``$text``: index terms, query terms, ranking.

Pure and synchronous (no MongoDB, no aiohttp). A story (or a person) stores
``terms``, a de-duplicated, sorted array in a multikey index (top level, so
FerretDB indexes it too); a query becomes a handful of terms, MongoDB returns
the candidates holding any of them (``repo.search_filter``), and ``score`` ranks the
candidates in Python.

Normalisation (``normalise``, both sides)
    NFKC (full-width ``ｗｙｄ`` -> ``wyd``, ideographic space -> space,
    compatibility ideographs -> unified ones), then lowercase, then ``ü`` -> ``v``
    (pypinyin spells 绿 ``lv``).

Text fields (title, summary, body, tags, people names)
    * The body is Markdown: only what a reader sees is kept (text, link text,
      image alt text, inline code); link and image URLs, reference definitions
      and fenced/indented code blocks are dropped. Then, in every field, bare
      URLs (``http(s)://``, ``www.``, ``mailto:``), e-mail addresses and
      HTML-like tags (``<script>``) are removed.
    * The text is split into runs of CJK ideographs (``CJK``) and runs of ASCII
      letters/digits; everything else (punctuation, Markdown syntax, spaces) is a
      separator and never part of a term.
    * CJK run of 2+ characters -> its character bigrams (``工匠精神`` -> 工匠,
      匠精, 精神). A 1-character run -> that character (a unigram), so 1-character
      names and words still match.
    * Short fields (title, summary, tags, names) also give the unigram of every
      CJK character, so a one-character query (``匠``) finds a story with that
      character in its title, summary, tags or people. The body gives unigrams
      only for its 1-character runs (all of its unigrams would crowd out bigrams).
    * ASCII letter/digit runs of length >= 2 -> the lowercase word (``C919`` ->
      ``c919``).

Tags
    Normalised, trimmed, inner whitespace collapsed: ``tag:<tag>`` plus the
    tag's bigrams, unigrams and words as above.

People names (``吴运铎``)
    bigrams and unigrams as above, plus pinyin of the name's CJK characters
    (``pypinyin.lazy_pinyin``, tone-less), for the default reading and, since
    surnames are often heteronyms (曾 zeng/ceng, 单 shan/dan), for every reading
    of the first character (at most ``MAX_SURNAME_READINGS``):

    * ``py:`` + the syllables joined, for every syllable-boundary prefix of at
      least 2 syllables, and the whole name: ``py:wuyun``, ``py:wuyunduo``
      (a 1-syllable name gives just ``py:<full>``);
    * ``pi:`` + the first letters, for every prefix of at least 2 letters, and
      the whole: ``pi:wy``, ``pi:wyd``.

    Only the first ``NAME_PINYIN_CHARS`` CJK characters of a name are spelt out.

Bounds
    Terms are gathered field by field in priority order (title, people, tags,
    summary, body) and, within a field, in order of appearance; gathering stops
    at ``MAX_TERMS`` (2000) terms. Each field is read up to ``FIELD_CHARS``
    characters; of the body, only the first ``BODY_CHARS`` (3000) characters of
    its plain text (Markdown stripped, read from at most ``MARKDOWN_CHARS`` of
    source) are indexed. A phrase that first appears later in a long body is
    not found through the body.

Queries (``query_terms``)
    Normalised, cut to ``MAX_QUERY_CHARS``, tokenised like a short field but
    without the all-unigrams rule: CJK runs of 2+ characters -> bigrams, a
    1-character run -> its unigram, ASCII words (length >= 2) lowercased. Every
    all-letter ASCII word ``w`` is a pinyin candidate too: the group
    {``w``, ``py:w``, ``pi:w``} is matched by any of them (``wuyunduo``,
    ``wuyun``, ``wyd``, ``wy``; not ``wuyund``, which stops inside a syllable).
    A query made only of 2+ ASCII letter runs (``Wu Yunduo``, ``wu-yun-duo``)
    also tries them joined (``py:wuyunduo`` / ``pi:wuyunduo``). The normalised
    query is also tried as a whole tag (``tag:<q>``). A query without a token (empty, spaces,
    punctuation, a single letter) has no terms at all.

Ranking (``score``)
    coverage = matched groups / groups (each bigram, unigram or ASCII word is a
    group; a joined-pinyin hit matches every ASCII group), in [0, 1];
    plus a phrase bonus for each CJK run of the query found as a substring of
    the title (+4), the summary (+2) or the body (+1), summed over the fields
    and averaged over the runs (powers of two: a title hit beats summary + body;
    fields are normalised and Markdown marks ``*_~` `` ignored, the whole body
    is searched);
    plus 2 when the story has the whole query as a tag.
    A story with no matched group and no tag hit scores 0 (not a match).
    So: phrase in title > in summary > in body > all bigrams scattered >
    some bigrams.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from pypinyin import Style, lazy_pinyin, pinyin

MAX_TERMS = 2000
"""At most this many index terms per story (a multikey index entry each)."""
BODY_CHARS = 3000
"""Only the first this many characters of the body's plain text are indexed."""
MARKDOWN_CHARS = 20_000
"""At most this many characters of Markdown source are parsed for the body."""
FIELD_CHARS = 1000
"""Title, summary, each tag and each name are read up to this many characters."""
NAME_PINYIN_CHARS = 12
"""Pinyin terms are made from at most this many CJK characters of a name."""
MAX_SURNAME_READINGS = 4
"""At most this many readings of a name's first character are spelt out."""
MAX_QUERY_CHARS = 100
"""A query is cut to this many characters after normalisation."""

PINYIN_PREFIX = "py:"
INITIALS_PREFIX = "pi:"
TAG_PREFIX = "tag:"

TITLE_BONUS = 4.0
SUMMARY_BONUS = 2.0
BODY_BONUS = 1.0
TAG_BONUS = 2.0

# CJK ideographs: 〇, Extension A, the URO, compatibility ideographs (NFKC maps most
# to the URO), and the supplementary ideographic planes (Extensions B-H).
_CJK = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(f"([{_CJK}]+)|([a-z0-9]+)")
_NOISE = re.compile(
    r"(?:https?://|ftp://|www\.|mailto:)\S*"  # URLs
    r"|(?<![a-z0-9._+-])[a-z0-9._+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"  # e-mail addresses
    r"|</?[a-z][^<>]*>",  # HTML-like tags shown as text
    re.IGNORECASE,
)
_PHRASE_IGNORED = "*_~`"  # Markdown emphasis and code marks, ignored by the phrase check


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), lowercase, ``ü`` -> ``v``."""
    return unicodedata.normalize("NFKC", text).lower().replace("ü", "v")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown_text(markdown: str) -> str:
    """What a reader sees of ``markdown``: one line per block, inline markup removed.

    Link and image URLs, reference definitions and code blocks are dropped; link
    text, image alt text and inline code are kept.
    """
    lines: list[str] = []
    for token in _markdown().parse(markdown):
        if token.type != "inline" or not token.children:
            continue  # fence, code_block, *_open/_close carry no reader-visible text
        parts: list[str] = []
        for child in token.children:
            if child.type in ("text", "code_inline", "image"):
                parts.append(child.content)  # an image's content is its alt text
            elif child.type in ("softbreak", "hardbreak"):
                parts.append("\n")
        lines.append("".join(parts))
    return "\n".join(lines)


def _clean(text: str, limit: int) -> str:
    return _NOISE.sub(" ", normalise(text[:limit]))


def _runs(text: str) -> Iterable[tuple[str, bool]]:
    """(run, is_cjk) for each CJK run and each ASCII letter/digit run of clean text."""
    for match in _TOKEN.finditer(text):
        cjk, word = match.groups()
        yield (cjk, True) if cjk else (word, False)


def _text_terms(text: str, *, all_unigrams: bool) -> Iterable[str]:
    for run, is_cjk in _runs(text):
        if not is_cjk:
            if len(run) >= 2:
                yield run
            continue
        if len(run) == 1:
            yield run
            continue
        for i in range(len(run) - 1):
            if all_unigrams:
                yield run[i]
            yield run[i : i + 2]
        if all_unigrams:
            yield run[-1]


def _name_readings(chars: str) -> list[list[str]]:
    """Tone-less pinyin syllables of ``chars`` (CJK only): the default reading first,
    then the other readings of the first character (surnames are often heteronyms)."""
    default = lazy_pinyin(chars, style=Style.NORMAL, errors="ignore")
    if not default:
        return []
    readings = [default]
    if len(default) == len(chars):  # one syllable per character: the first is the surname
        first = pinyin(chars[0], style=Style.NORMAL, heteronym=True, errors="ignore")
        for alt in (first[0] if first else [])[:MAX_SURNAME_READINGS]:
            if alt and alt != default[0]:
                readings.append([alt, *default[1:]])
    return readings


def pinyin_terms(name: str) -> list[str]:
    """``py:``/``pi:`` terms of one person name (see the module docstring)."""
    chars = "".join(run for run, is_cjk in _runs(_clean(name, FIELD_CHARS)) if is_cjk)
    terms: list[str] = []
    for syllables in _name_readings(chars[:NAME_PINYIN_CHARS]):
        syllables = [normalise(s) for s in syllables if s.isascii() and s.isalpha()]
        if not syllables:
            continue
        initials = "".join(s[0] for s in syllables)
        for k in range(min(2, len(syllables)), len(syllables) + 1):
            terms.append(PINYIN_PREFIX + "".join(syllables[:k]))
            if k >= 2:
                terms.append(INITIALS_PREFIX + initials[:k])
    return terms


def normalise_tag(tag: str) -> str:
    """A tag as indexed and matched: normalised, trimmed, inner whitespace collapsed."""
    return " ".join(normalise(tag[:FIELD_CHARS]).split())


def index_terms(
    *, title: str, summary: str, body: str, tags: list[str], people_names: list[str]
) -> list[str]:
    """The sorted, de-duplicated index terms of one story (at most ``MAX_TERMS``)."""

    def people() -> Iterable[str]:
        for name in people_names:
            yield from _text_terms(_clean(name, FIELD_CHARS), all_unigrams=True)
            yield from pinyin_terms(name)

    def tag_terms() -> Iterable[str]:
        for tag in tags:
            cleaned = normalise_tag(tag)
            if cleaned:
                yield TAG_PREFIX + cleaned
                yield from _text_terms(_NOISE.sub(" ", cleaned), all_unigrams=True)

    body_text = _clean(markdown_text(body[:MARKDOWN_CHARS]), BODY_CHARS)[:BODY_CHARS]
    sources: list[Iterable[str]] = [
        _text_terms(_clean(title, FIELD_CHARS), all_unigrams=True),
        people(),
        tag_terms(),
        _text_terms(_clean(summary, FIELD_CHARS), all_unigrams=True),
        _text_terms(body_text, all_unigrams=False),
    ]
    seen: dict[str, None] = {}
    for source in sources:
        for term in source:
            seen.setdefault(term, None)
            if len(seen) >= MAX_TERMS:
                return sorted(seen)
    return sorted(seen)


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A tokenised query. ``all_terms()`` feeds the candidate filter; ``score`` ranks."""

    text: str
    """The normalised query, cut to ``MAX_QUERY_CHARS``, whitespace collapsed."""
    cjk: tuple[str, ...] = ()
    """CJK bigrams, and unigrams of 1-character runs, in order."""
    words: tuple[str, ...] = ()
    """ASCII words (length >= 2), lowercase, in order."""
    phrases: tuple[str, ...] = ()
    """The query's CJK runs, for the phrase bonus."""
    joined: str | None = None
    """For a query of 2+ ASCII words only: the words joined (``wuyunduo``)."""

    @property
    def tag(self) -> str | None:
        """``tag:<text>``, tried as a whole tag; none unless the query has a token."""
        return TAG_PREFIX + self.text if self.cjk or self.words else None

    @property
    def joined_terms(self) -> frozenset[str]:
        if self.joined is None:
            return frozenset()
        return frozenset((PINYIN_PREFIX + self.joined, INITIALS_PREFIX + self.joined))

    def groups(self) -> list[frozenset[str]]:
        """One group per query token; a group is matched if the story has any member."""
        groups = [frozenset((term,)) for term in self.cjk]
        for word in self.words:
            if word.isalpha():
                groups.append(frozenset((word, PINYIN_PREFIX + word, INITIALS_PREFIX + word)))
            else:
                groups.append(frozenset((word,)))
        return groups

    def all_terms(self) -> list[str]:
        """Every term a matching story may hold, sorted; empty for an empty query."""
        terms: set[str] = set(self.joined_terms)
        for group in self.groups():
            terms |= group
        if self.tag is not None:
            terms.add(self.tag)
        return sorted(terms)


def query_terms(q: str) -> QueryTerms:
    """Tokenise a search query the way ``index_terms`` tokenises stories."""
    text = " ".join(_clean(q, MAX_QUERY_CHARS * 4)[:MAX_QUERY_CHARS].split())
    cjk: dict[str, None] = {}
    words: dict[str, None] = {}
    phrases: dict[str, None] = {}
    for run, is_cjk in _runs(text):
        if not is_cjk:
            if len(run) >= 2:
                words.setdefault(run, None)
            continue
        phrases.setdefault(run, None)
        if len(run) == 1:
            cjk.setdefault(run, None)
        for i in range(len(run) - 1):
            cjk.setdefault(run[i : i + 2], None)
    runs = list(_runs(text))
    joined = None
    if len(runs) >= 2 and all(not is_cjk and run.isalpha() for run, is_cjk in runs):
        joined = "".join(run for run, _ in runs)
    return QueryTerms(
        text=text,
        cjk=tuple(cjk),
        words=tuple(words),
        phrases=tuple(phrases),
        joined=joined,
    )


def coverage(terms: Iterable[str], query: QueryTerms) -> float:
    """The fraction of the query's groups matched by ``terms``, in [0, 1]."""
    have = terms if isinstance(terms, set | frozenset) else set(terms)
    groups = query.groups()
    if not groups:
        return 0.0
    if query.joined_terms & have:
        ascii_groups = {frozenset((w, PINYIN_PREFIX + w, INITIALS_PREFIX + w)) for w in query.words}
        matched = sum(1 for g in groups if g in ascii_groups or g & have)
    else:
        matched = sum(1 for g in groups if g & have)
    return matched / len(groups)


def _phrase_text(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    plain = normalise(text)
    for mark in _PHRASE_IGNORED:  # str.replace is far faster than str.translate here
        plain = plain.replace(mark, "")
    return plain


def score(story: Mapping[str, Any], query: QueryTerms) -> float:
    """Rank of ``story`` (``title``, ``summary``, ``body_markdown``, ``terms``; missing
    fields count as empty) for ``query``; 0 means no match. Higher is better."""
    terms = set(story.get("terms") or ())
    cover = coverage(terms, query)
    tag_hit = query.tag is not None and query.tag in terms
    if cover == 0 and not tag_hit:
        return 0.0
    bonus = 0.0
    if query.phrases:
        title = _phrase_text(story.get("title"))
        summary = _phrase_text(story.get("summary"))
        body = _phrase_text(story.get("body_markdown"))
        for phrase in query.phrases:
            bonus += TITLE_BONUS * (phrase in title)
            bonus += SUMMARY_BONUS * (phrase in summary)
            bonus += BODY_BONUS * (phrase in body)
        bonus /= len(query.phrases)
    return cover + bonus + (TAG_BONUS if tag_hit else 0.0)
