"""The demo content: well-formed, clearly marked as demo, and not copied from the decision."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from handlers.stories.demo import (
    CATEGORIES,
    DEMO_NOTICE_PREFIX,
    DEMO_PEOPLE,
    DEMO_STORIES,
    DEMO_TITLE_PREFIX,
    HONOURS,
    DemoStory,
    draw_cover,
    draw_portrait,
)

DECISION = Path(__file__).resolve().parents[3] / "shared" / "seed" / "decision.txt"
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MAX_JPEG_BYTES = 300 * 1024


def _decision_text() -> str:
    if not DECISION.is_file():
        pytest.skip(f"the city's decision is not available at {DECISION}")
    return DECISION.read_text(encoding="utf-8")


def _letters(text: str) -> str:
    """Only letters and digits (CJK included): punctuation, spaces and Markdown go."""
    return "".join(ch for ch in text if ch.isalnum())


def _demo_texts() -> Iterator[tuple[str, str]]:
    for story in DEMO_STORIES:
        yield f"{story.key}.title", story.title
        yield f"{story.key}.summary", story.summary
        yield f"{story.key}.body", story.body_markdown
        yield f"{story.key}.tags", " ".join(story.tags)
    for person in DEMO_PEOPLE:
        yield f"{person.key}.bio", person.bio
        yield f"{person.key}.tags", " ".join(person.tags)


@cache
def _cover(key: str) -> bytes:
    story = next(s for s in DEMO_STORIES if s.key == key)
    return draw_cover(story)


def _open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


# --------------------------------------------------------------------------- stories


def test_a_dozen_stories_with_unique_keys_and_seeds() -> None:
    assert len(DEMO_STORIES) == 12
    assert len({s.key for s in DEMO_STORIES}) == 12
    assert len({s.cover_seed for s in DEMO_STORIES}) == 12
    assert all(_SLUG.match(s.key) for s in DEMO_STORIES)


def test_every_category_is_present() -> None:
    assert {s.category for s in DEMO_STORIES} == set(CATEGORIES)


def test_exactly_one_story_is_pinned() -> None:
    assert sum(s.pinned for s in DEMO_STORIES) == 1


@pytest.mark.parametrize("story", DEMO_STORIES, ids=lambda s: s.key)
def test_story_is_marked_as_demo(story: DemoStory) -> None:
    assert story.title.startswith(DEMO_TITLE_PREFIX)
    assert story.body_markdown.splitlines()[0].startswith(DEMO_NOTICE_PREFIX)


@pytest.mark.parametrize("story", DEMO_STORIES, ids=lambda s: s.key)
def test_story_fields_fit_the_api_limits(story: DemoStory) -> None:
    assert 0 < len(story.title) <= 80
    assert 0 < len(story.summary) <= 80
    assert 300 <= len(story.body_markdown) <= 800
    assert 2 <= len(story.tags) <= 4
    assert all(0 < len(tag) <= 16 for tag in story.tags)
    assert len(set(story.tags)) == len(story.tags)


@pytest.mark.parametrize("story", DEMO_STORIES, ids=lambda s: s.key)
def test_story_body_uses_markdown(story: DemoStory) -> None:
    body = story.body_markdown
    assert re.search(r"^## ", body, re.MULTILINE)
    assert re.search(r"^(?:- |\d+\. |\| )", body, re.MULTILINE)
    assert "**" in body


def test_linked_people_exist() -> None:
    keys = {p.key for p in DEMO_PEOPLE}
    for story in DEMO_STORIES:
        assert set(story.person_keys) <= keys, story.key


def test_craftsman_spirit_is_searchable() -> None:
    assert sum("工匠精神" in s.body_markdown for s in DEMO_STORIES) >= 2
    assert any("工匠精神" in s.title for s in DEMO_STORIES)


def test_a_policy_story_explains_the_five_places() -> None:
    explainers = [s for s in DEMO_STORIES if s.category == "policy" and "五进" in s.title]
    assert explainers
    for place in ("校园", "企业", "社区", "乡村", "机关"):
        assert place in explainers[0].body_markdown


# --------------------------------------------------------------------------- people


def test_people_keys_are_unique_slugs() -> None:
    assert len({p.key for p in DEMO_PEOPLE}) == len(DEMO_PEOPLE)
    assert all(_SLUG.match(p.key) for p in DEMO_PEOPLE)
    assert len({p.name for p in DEMO_PEOPLE}) == len(DEMO_PEOPLE)


def test_every_honour_is_on_the_fixed_list() -> None:
    assert len(set(HONOURS)) == len(HONOURS)
    for person in DEMO_PEOPLE:
        for honour, year in person.honours:
            assert honour in HONOURS, (person.key, honour)
            assert year is None or 1950 <= year <= 2100


def test_people_fit_the_api_limits() -> None:
    for person in DEMO_PEOPLE:
        assert 0 < len(person.name) <= 32
        assert len(person.bio) <= 500
        assert person.workplace is None or len(person.workplace) <= 64
        assert len(person.tags) <= 10


def test_people_are_named_in_the_decision() -> None:
    decision = _decision_text()
    for person in DEMO_PEOPLE:
        assert person.name in decision, person.name


# --------------------------------------------------------------------------- not copied


def test_no_sentence_of_the_decision_is_copied() -> None:
    decision = _decision_text()
    sentences = {_letters(s) for s in re.split(r"[。；;！!？?\n]", decision)}
    sentences = {s for s in sentences if len(s) >= 8}
    assert sentences
    for where, text in _demo_texts():
        flat = _letters(text)
        for sentence in sentences:
            assert sentence not in flat, (where, sentence)


def test_no_twenty_character_run_is_shared_with_the_decision() -> None:
    decision = _letters(_decision_text())
    runs = {decision[i : i + 20] for i in range(len(decision) - 19)}
    for where, text in _demo_texts():
        flat = _letters(text)
        shared = [flat[i : i + 20] for i in range(len(flat) - 19) if flat[i : i + 20] in runs]
        assert not shared, (where, shared[:3])


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("story", DEMO_STORIES, ids=lambda s: s.key)
def test_cover_is_a_small_jpeg_of_the_right_size(story: DemoStory) -> None:
    data = _cover(story.key)
    assert len(data) <= _MAX_JPEG_BYTES
    image = _open_jpeg(data)
    assert image.size == (1200, 675)
    assert image.mode == "RGB"


def test_covers_are_deterministic_and_distinct() -> None:
    one_per_category = {s.category: s for s in DEMO_STORIES}.values()
    for story in one_per_category:
        assert draw_cover(story) == _cover(story.key), story.key
    assert len({_cover(s.key) for s in DEMO_STORIES}) == len(DEMO_STORIES)


def test_cover_honours_a_custom_size() -> None:
    image = _open_jpeg(draw_cover(DEMO_STORIES[0], size=(640, 360)))
    assert image.size == (640, 360)


def test_portraits_are_deterministic_distinct_jpegs() -> None:
    portraits = [draw_portrait(p) for p in DEMO_PEOPLE]
    for person, data in zip(DEMO_PEOPLE, portraits, strict=True):
        assert len(data) <= _MAX_JPEG_BYTES
        assert _open_jpeg(data).size == (600, 600)
        assert draw_portrait(person) == data, person.key
    assert len(set(portraits)) == len(portraits)
    assert _open_jpeg(draw_portrait(DEMO_PEOPLE[0], size=(128, 128))).size == (128, 128)
