"""The demo content: well-formed, clearly marked as demo, and not copied from the decision.

The content is data (``demo/``: ``people.toml`` and ``stories/<key>.md``), read by the
product's loader (``handlers/stories/demo.py``); the covers and portraits are drawn by
``tools/demo_art.py``; ``seed_demo_content`` uploads them from the art directory.
"""

from __future__ import annotations

import ast
import io
import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from handlers.stories.demo import (
    CATEGORIES,
    DEFAULT_DATA_DIR,
    DEMO_NOTICE_PREFIX,
    DEMO_TITLE_PREFIX,
    DemoContent,
    DemoDataError,
    DemoStory,
    cover_path,
    load_demo_art,
    load_demo_content,
    load_people,
    load_story,
    portrait_path,
)
from server.room import DemoSource
from server.rooms import ROOMS
from tests.fixtures.app import Client
from tools.demo_art import draw_cover, draw_portrait, write_demo_art
from tools.demo_art import main as demo_art_main
from tools.demo_photos import write_photos

ROOT = Path(__file__).resolve().parents[2]
CONTENT = load_demo_content(DEFAULT_DATA_DIR)
DEMO_STORIES = CONTENT.stories
DEMO_PEOPLE = CONTENT.people
HONOURS = CONTENT.honours

# The city's decision lives in the shared folder beside the checkout (or beside the
# folder of worktrees): the first ``shared/seed/decision.txt`` above this file.
DECISION = next(
    (
        parent / "shared" / "seed" / "decision.txt"
        for parent in Path(__file__).resolve().parents
        if (parent / "shared" / "seed" / "decision.txt").is_file()
    ),
    ROOT.parent / "shared" / "seed" / "decision.txt",
)
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


@cache
def _portrait(key: str) -> bytes:
    person = next(p for p in DEMO_PEOPLE if p.key == key)
    return draw_portrait(person)


def _open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


# --------------------------------------------------------------------------- data files


def test_one_file_per_story_named_by_its_key() -> None:
    files = sorted(p.name for p in (DEFAULT_DATA_DIR / "stories").iterdir())
    assert files == sorted(f"{s.key}.md" for s in DEMO_STORIES)


def test_stories_are_seeded_in_the_order_of_their_front_matter() -> None:
    orders = [s.order for s in DEMO_STORIES]
    assert orders == sorted(orders)
    assert len(set(orders)) == len(orders)


def test_story_file_round_trips_through_the_loader() -> None:
    story = DEMO_STORIES[0]
    path = DEFAULT_DATA_DIR / "stories" / f"{story.key}.md"
    assert load_story(path) == story
    # the body is the file after the front matter, as written
    assert path.read_text(encoding="utf-8").endswith(story.body_markdown)


def test_people_file_holds_the_honours_and_the_people() -> None:
    honours, people = load_people(DEFAULT_DATA_DIR / "people.toml")
    assert (honours, people) == (HONOURS, DEMO_PEOPLE)


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


# --------------------------------------------------------------------------- malformed

_GOOD_FRONT = """\
title = "【示例】一个故事"
summary = "摘要。"
category = "team"
tags = ["班组", "示例"]
order = 1
cover_seed = 7
"""
_GOOD_BODY = "> 本文为演示内容，人物与情节均为虚构。\n\n## 小标题\n\n正文。\n"


def _story_text(front: str = _GOOD_FRONT, body: str = _GOOD_BODY) -> str:
    return f"+++\n{front}+++\n{body}"


def test_a_well_formed_story_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "one-story.md"
    path.write_text(_story_text(body="\n" + _GOOD_BODY + "\n\n"), encoding="utf-8")
    story = load_story(path)
    assert (story.key, story.category, story.tags, story.person_keys, story.pinned) == (
        "one-story",
        "team",
        ("班组", "示例"),
        (),
        False,
    )
    assert story.body_markdown == _GOOD_BODY  # blank lines around the body go


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "## 没有前言\n\n正文。\n", "must start with a '+++' line", id="no-front-matter"
        ),
        pytest.param("+++\ntitle = '【示例】x'\n\n正文。\n", "never closed", id="unclosed"),
        pytest.param(
            _story_text(_GOOD_FRONT.replace('summary = "摘要。"', "summary = 摘要")),
            "invalid TOML: Invalid value (at line 3, column 11)",  # the file's line and column
            id="bad-toml",
        ),
        pytest.param(
            _story_text(_GOOD_FRONT + "colour = 'red'\n"), "unknown field colour", id="unknown"
        ),
        pytest.param(
            _story_text(_GOOD_FRONT.replace('summary = "摘要。"\n', "")),
            "missing field 'summary'",
            id="missing",
        ),
        pytest.param(
            _story_text(_GOOD_FRONT.replace('tags = ["班组", "示例"]', 'tags = "班组"')),
            "'tags' must be a list of non-empty strings",
            id="wrong-type",
        ),
        pytest.param(
            _story_text(_GOOD_FRONT.replace("order = 1", "order = true")),
            "'order' must be an integer",
            id="bool-is-no-integer",
        ),
        pytest.param(
            _story_text(_GOOD_FRONT.replace('"team"', '"hero"')),
            "'category' must be one of model_worker, craftsman",
            id="category",
        ),
        pytest.param(
            _story_text(_GOOD_FRONT.replace("【示例】", "")),
            "the title must start with 【示例】",
            id="title-unmarked",
        ),
        pytest.param(
            _story_text(body="## 小标题\n\n正文。\n"),
            "the body's first line must be the demo notice",
            id="body-unmarked",
        ),
        pytest.param(_story_text(body="\n\n"), "body after the front matter is empty", id="empty"),
    ],
)
def test_a_malformed_story_file_is_a_clear_error_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "broken-story.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DemoDataError) as caught:
        load_story(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert problem in message, message


def test_a_story_file_name_must_be_a_key(tmp_path: Path) -> None:
    path = tmp_path / "Not A Key.md"
    path.write_text(_story_text(), encoding="utf-8")
    with pytest.raises(DemoDataError, match="file name: key 'Not A Key' must be lower-case"):
        load_story(path)


def _copy_of_the_data(tmp_path: Path) -> Path:
    data = tmp_path / "demo"
    shutil.copytree(DEFAULT_DATA_DIR, data)
    return data


def test_a_broken_file_in_the_data_dir_is_named(tmp_path: Path) -> None:
    data = _copy_of_the_data(tmp_path)
    broken = data / "stories" / f"{DEMO_STORIES[3].key}.md"
    broken.write_text(broken.read_text(encoding="utf-8").replace("+++", "", 1), "utf-8")
    with pytest.raises(DemoDataError) as caught:
        load_demo_content(data)
    assert str(caught.value).startswith(f"{broken}: must start with a '+++' line")


def test_a_story_naming_an_unknown_person_is_refused(tmp_path: Path) -> None:
    data = _copy_of_the_data(tmp_path)
    path = data / "stories" / "extra.md"
    front = _GOOD_FRONT.replace("order = 1", "order = 99") + 'people = ["nobody"]\n'
    path.write_text(_story_text(front), encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"extra\.md: front matter: people nobody are not in"):
        load_demo_content(data)


def test_two_stories_with_one_title_are_refused(tmp_path: Path) -> None:
    # the seed skips a title that exists, so the second one would silently go missing
    data = _copy_of_the_data(tmp_path)
    front = _GOOD_FRONT.replace("一个故事", DEMO_STORIES[0].title.removeprefix("【示例】"))
    (data / "stories" / "again.md").write_text(
        _story_text(front.replace("order = 1", "order = 99")), "utf-8"
    )
    with pytest.raises(
        DemoDataError,
        match=rf"again\.md: front matter: title .* is {DEMO_STORIES[0].key}\.md's title too",
    ):
        load_demo_content(data)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            ("honours = []", 'honours = [{ name = "英雄" }]'), "'英雄' is not on the list"
        ),
        pytest.param(('key = "yi-ran"', 'key = "wu-yunduo"'), "person key 'wu-yunduo' appears"),
        pytest.param(('key = "yi-ran"', 'key = "Yi Ran"'), "key 'Yi Ran' must be lower-case"),
        pytest.param(('bio = "', 'biography = "'), "unknown field biography"),
    ],
)
def test_a_malformed_people_file_is_a_clear_error_naming_it(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    data = _copy_of_the_data(tmp_path)
    path = data / "people.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(*change, 1), "utf-8")
    with pytest.raises(DemoDataError) as caught:
        load_demo_content(data)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert problem in str(caught.value)


def test_no_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoDataError, match="no demo data directory here"):
        load_demo_content(tmp_path / "nowhere")


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
    portraits = [_portrait(p.key) for p in DEMO_PEOPLE]
    for person, data in zip(DEMO_PEOPLE, portraits, strict=True):
        assert len(data) <= _MAX_JPEG_BYTES
        assert _open_jpeg(data).size == (600, 600)
        assert draw_portrait(person) == data, person.key
    assert len(set(portraits)) == len(portraits)
    assert _open_jpeg(draw_portrait(DEMO_PEOPLE[0], size=(128, 128))).size == (128, 128)


# --------------------------------------------------------------------------- the art tool


def _small_data_dir(tmp_path: Path) -> tuple[Path, DemoContent]:
    """The people and the first story only: the tool's tests draw little."""
    data = tmp_path / "demo"
    (data / "stories").mkdir(parents=True)
    shutil.copy(DEFAULT_DATA_DIR / "people.toml", data)
    shutil.copy(DEFAULT_DATA_DIR / "stories" / f"{DEMO_STORIES[0].key}.md", data / "stories")
    return data, load_demo_content(data)


def test_the_tool_draws_every_image_then_skips_what_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, content = _small_data_dir(tmp_path)
    out = tmp_path / "art"
    assert demo_art_main(["--data", str(data), "--out", str(out)]) == 0
    assert f"demo art in {out}: 7 drawn, 0 already there" in capsys.readouterr().out
    story = content.stories[0]
    assert cover_path(out, story.key).read_bytes() == _cover(story.key)
    for person in content.people:
        assert portrait_path(out, person.key).read_bytes() == _portrait(person.key)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(
        [f"{story.key}.jpg", *(f"{p.key}.jpg" for p in content.people)]
    )

    # what exists is left alone (even when it is not what the tool would draw) ...
    stale = portrait_path(out, content.people[0].key)
    stale.write_bytes(b"not redrawn")
    assert write_demo_art(content, out) == []
    assert stale.read_bytes() == b"not redrawn"
    # ... a missing image is drawn, and --force redraws everything
    cover_path(out, story.key).unlink()
    assert write_demo_art(content, out) == [cover_path(out, story.key)]
    assert demo_art_main(["--data", str(data), "--out", str(out), "--force"]) == 0
    assert "7 drawn, 0 already there" in capsys.readouterr().out
    assert stale.read_bytes() == _portrait(content.people[0].key)


def test_the_tool_reports_malformed_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = _small_data_dir(tmp_path)
    (data / "stories" / "bad.md").write_text("no front matter\n", encoding="utf-8")
    assert demo_art_main(["--data", str(data), "--out", str(tmp_path / "art")]) == 1
    assert f"{data / 'stories' / 'bad.md'}: must start with a '+++' line" in capsys.readouterr().err
    assert not (tmp_path / "art").exists()


def test_pillow_is_imported_only_by_media_and_the_art_tool() -> None:
    """The product never draws: demo art is the tool's, photo processing is media/'s."""
    for package in ("server", "handlers", "config"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            modules = [
                name
                for node in ast.walk(tree)
                for name in (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
            ]
            assert not [m for m in modules if m.split(".")[0] in {"PIL", "pillow_heif"}], path


# --------------------------------------------------------------------------- seeding


PHOTO_CACHE = ROOT / ".data" / "test-output" / "demo-photos"


def write_checkin_photos(art: Path) -> None:
    """The demo check-in photos under ``art``: drawn once (``tools/demo_photos.py``, a
    few seconds), kept between runs, copied for each test."""
    write_photos(PHOTO_CACHE)
    shutil.copytree(PHOTO_CACHE / "checkins", art / "checkins", dirs_exist_ok=True)


def _write_art(art: Path) -> None:
    """Every picture ``python -m server seed`` reads: covers, portraits, check-in photos."""
    write_checkin_photos(art)
    for story in DEMO_STORIES:
        cover_path(art, story.key).parent.mkdir(parents=True, exist_ok=True)
        cover_path(art, story.key).write_bytes(_cover(story.key))
    for person in DEMO_PEOPLE:
        portrait_path(art, person.key).parent.mkdir(parents=True, exist_ok=True)
        portrait_path(art, person.key).write_bytes(_portrait(person.key))


def test_missing_art_is_a_clear_error_with_the_command(tmp_path: Path) -> None:
    art = tmp_path / "art"
    with pytest.raises(DemoDataError) as caught:
        load_demo_art(CONTENT, art)
    message = str(caught.value)
    assert message.startswith(f"{art}: 18 of 18 demo images are missing (covers/"), message
    assert message.endswith(
        f"draw them first, from the repo root ({ROOT}):\n    python -m tools.demo_art --out {art}"
    ), message
    _write_art(art)
    portrait_path(art, DEMO_PEOPLE[-1].key).unlink()
    with pytest.raises(DemoDataError, match=rf"1 of 18 .*portraits/{DEMO_PEOPLE[-1].key}\.jpg"):
        load_demo_art(CONTENT, art)


async def test_seed_uploads_the_art_and_creates_nothing_twice(
    client: Client, tmp_path: Path
) -> None:
    _write_art(tmp_path)
    source = DemoSource(data=DEFAULT_DATA_DIR, art=tmp_path)
    # What `python -m server seed` runs: every room's seed, checked first, in room order.
    writers = [room.seed(source) for room in ROOMS if room.seed is not None]
    assert [room.name for room in ROOMS if room.seed is not None] == [
        "auth",
        "stories",
        "events",
        "labour",
    ]

    async def seed() -> tuple[int, int, int]:
        lines = [await write(client.app) for write in writers]
        found = re.fullmatch(
            r"demo content: (\d+) people and (\d+) stories created, views of (\d+) stories",
            lines[1],
        )
        assert found, lines
        return int(found[1]), int(found[2]), int(found[3])

    assert await seed() == (6, 12, 12)
    assert await seed() == (0, 0, 0)

    resp = await client.get("/api/v1/stories", params={"limit": "50"})
    assert resp.status == 200, await resp.text()
    items = (await resp.json())["items"]
    assert len(items) == 12
    assert items[0]["title"] == next(s.title for s in DEMO_STORIES if s.pinned)
    assert {i["title"] for i in items} == {s.title for s in DEMO_STORIES}
    assert all(i["cover"] for i in items)
    policy = next(i for i in items if i["pinned"])
    assert [p["name"] for p in policy["people"]] == [p.name for p in DEMO_PEOPLE]
    story = DEMO_STORIES[0]
    one = next(i for i in items if i["title"] == story.title)
    resp = await client.get(f"/api/v1/stories/{one['id']}")
    assert (await resp.json())["body_markdown"] == story.body_markdown
