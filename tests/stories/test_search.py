"""Search terms without $text: pure tests of handlers.stories.search (no services)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from handlers.stories import search
from handlers.stories.repo import search_filter as mongo_filter
from handlers.stories.search import (
    BODY_CHARS,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    index_terms,
    normalise,
    pinyin_terms,
    query_terms,
    score,
)

Story = dict[str, Any]

# One index term: a CJK unigram or bigram, an ASCII word, or a prefixed term.
_CJK_TERM = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]{1,2}")
_WORD_TERM = re.compile(r"[a-z0-9]{2,}")


def make_story(
    title: str,
    *,
    summary: str = "",
    body: str = "",
    tags: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
) -> Story:
    """A story document as the service stores it (title, summary, body, terms)."""
    return {
        "title": title,
        "summary": summary,
        "body_markdown": body,
        "tags": list(tags),
        "terms": index_terms(
            title=title, summary=summary, body=body, tags=list(tags), people_names=list(people)
        ),
    }


def find(stories: list[Story], q: str) -> list[str]:
    """What the service does: candidates by ``mongo_filter`` ($in), ranked by ``score``."""
    query = query_terms(q)
    wanted = set(mongo_filter(query)["terms"]["$in"])
    candidates = [s for s in stories if wanted & set(s["terms"])]
    ranked = sorted((s for s in candidates if score(s, query) > 0), key=lambda s: -score(s, query))
    return [s["title"] for s in ranked]


@pytest.fixture
def wu_stories() -> list[Story]:
    return [
        make_story(
            "把一切献给党",
            summary="兵工专家的一生",
            body="## 兵工专家\n\n**吴运铎**在战火中研制枪弹。",
            people=("吴运铎",),
        ),
        make_story("车间里的一天", body="车工王师傅的早晨。", people=("李万君",)),
        make_story("湖湘工匠", summary="一位老钳工", body="精益求精。"),
    ]


# -- normalisation ---------------------------------------------------------------------


def test_normalise_folds_width_and_case() -> None:
    assert normalise("ｗｙｄ") == "wyd"
    assert normalise("WuYunDuo") == "wuyunduo"
    assert normalise("Ｃ９１９\u3000大国工匠") == "c919 大国工匠"
    assert normalise("绿 LÜ") == "绿 lv"


# -- people: Chinese fragments and pinyin ----------------------------------------------


@pytest.mark.parametrize(
    "q",
    ["吴运", "运铎", "吴运铎", "wuyunduo", "wyd", "wuyun", "wy", "WuYunDuo", "ｗｙｄ", "Wu Yunduo"],
)
def test_fragments_and_pinyin_find_the_story_about_wu_yunduo(
    wu_stories: list[Story], q: str
) -> None:
    assert find(wu_stories, q) == ["把一切献给党"]


@pytest.mark.parametrize("q", ["wuyund", "yunduo", "duo", "yd", "wuyunduoo", "wydx"])
def test_pinyin_matches_only_syllable_prefixes_and_initial_prefixes(
    wu_stories: list[Story], q: str
) -> None:
    assert find(wu_stories, q) == []


def test_pinyin_terms_of_a_name() -> None:
    terms = set(pinyin_terms("吴运铎"))
    assert {"py:wuyun", "py:wuyunduo", "pi:wy", "pi:wyd"} <= terms
    # no 1-syllable prefixes, no cuts inside a syllable
    assert not terms & {"py:wu", "pi:w", "py:wuy", "py:wuyund", "py:yunduo"}
    # a one-character name: just its full pinyin
    assert "py:wu" in pinyin_terms("吴")


def test_surname_readings_are_all_indexed() -> None:
    # 曾 reads ceng by default but zeng as a surname; both must find 曾国藩.
    stories = [make_story("家书", people=("曾国藩",))]
    assert find(stories, "zengguofan") == ["家书"]
    assert find(stories, "cengguofan") == ["家书"]
    assert find(stories, "zgf") == ["家书"]


def test_pinyin_comes_from_linked_people_only() -> None:
    linked = make_story("把一切献给党", people=("吴运铎",))
    mentioned = make_story("回忆录", body="吴运铎的回忆。")
    stories = [linked, mentioned]
    assert set(find(stories, "吴运")) == {"把一切献给党", "回忆录"}
    assert find(stories, "wyd") == ["把一切献给党"]


def test_shared_initials_both_match_but_full_pinyin_tells_them_apart() -> None:
    stories = [
        make_story("把一切献给党", people=("吴运铎",)),
        make_story("焊花", people=("王一丁",)),
    ]
    assert set(find(stories, "wyd")) == {"把一切献给党", "焊花"}
    assert find(stories, "wuyunduo") == ["把一切献给党"]
    assert find(stories, "wangyi") == ["焊花"]


def test_people_documents_are_indexed_by_name() -> None:
    # PeopleService indexes a person as a story with only a name.
    terms = set(index_terms(title="", summary="", body="", tags=[], people_names=["吴运铎"]))
    assert {"吴运", "运铎", "吴", "运", "铎", "py:wuyunduo", "pi:wyd"} <= terms
    for q in ("吴运", "wyd", "wuyun"):
        assert terms & set(query_terms(q).all_terms()), q


# -- phrases: best matches first -------------------------------------------------------


def test_phrase_ranks_title_then_summary_then_body_then_scattered() -> None:
    stories = [
        make_story("精益求精", body="工作认真，精益求精，神采奕奕。"),  # only the characters
        make_story("车间里的一天", body="他说，工匠精神就是较真。"),
        make_story("匠人", body="工匠们很有精神。"),  # 工匠 + 精神, never 匠精
        make_story("巨匠", body="工匠。巨匠精心打磨。精神饱满。"),  # every bigram, apart
        make_story("工匠精神代代传"),
        make_story("一位老钳工", summary="讲述工匠精神的故事"),
        make_story("无关", body="今天天气很好。"),
    ]
    assert find(stories, "工匠精神") == [
        "工匠精神代代传",
        "一位老钳工",
        "车间里的一天",
        "巨匠",
        "匠人",
    ]


def test_title_hit_beats_summary_and_body_hit_together() -> None:
    stories = [
        make_story("两处都有", summary="工匠精神", body="工匠精神"),
        make_story("工匠精神"),
    ]
    assert find(stories, "工匠精神") == ["工匠精神", "两处都有"]


def test_markdown_emphasis_does_not_break_a_body_phrase() -> None:
    emphasised = make_story("甲", body="他身上有**工匠**精神。")
    scattered = make_story("乙", body="工匠。巨匠精心。精神。")
    assert find([scattered, emphasised], "工匠精神") == ["甲", "乙"]


def test_one_character_query() -> None:
    query = query_terms("匠")
    assert query.all_terms() == ["tag:匠", "匠"]
    stories = [
        make_story("老师傅", summary="一位巨匠"),
        make_story("匠人"),
        make_story("独白", body="匠，是一辈子的事。"),  # a one-character run in the body
        make_story("无关", body="今天天气很好。"),
    ]
    assert find(stories, "匠") == ["匠人", "老师傅", "独白"]


def test_mixed_chinese_and_pinyin_query() -> None:
    query = query_terms("大国工匠 wyd")
    assert set(query.cjk) == {"大国", "国工", "工匠"}
    assert query.words == ("wyd",)
    assert {"大国", "工匠", "py:wyd", "pi:wyd"} <= set(query.all_terms())
    stories = [
        make_story("兵工", people=("吴运铎",)),
        make_story("大国工匠", people=("吴运铎",)),
        make_story("大国工匠的一天"),
        make_story("无关"),
    ]
    ranked = find(stories, "大国工匠 wyd")
    assert ranked[0] == "大国工匠"
    assert set(ranked) == {"大国工匠", "大国工匠的一天", "兵工"}


def test_tags_are_indexed_whole_and_by_bigrams() -> None:
    story = make_story("甲", tags=(" 大国工匠 ", "AI", "五一  劳动奖章"))
    terms = set(story["terms"])
    assert {"tag:大国工匠", "tag:ai", "tag:五一 劳动奖章", "大国", "工匠", "ai"} <= terms
    body_only = make_story("乙", body="他是大国工匠。")
    assert find([body_only, story], "大国工匠") == ["甲", "乙"]
    assert find([body_only, story], "ai") == ["甲"]


# -- what goes into the index ----------------------------------------------------------


def test_markdown_and_punctuation_do_not_leak_into_terms() -> None:
    body = """# 标题：工匠（一）

**粗体**、*斜体*、~~删除~~、`code_inline`。

[链接文字](https://example.com/path?q=1 "提示") 和 ![图片说明](/media/abc123.png)
<https://auto.example.org/x> 以及 www.example.net 与 mail@example.com。
<script>alert(1)</script> &amp; &copy;

> 引用：**吴运铎**说“把一切献给党”！

[ref]: http://ref.example.com "参考标题"

```python
import os
```

| 车间 | 班组 |
| --- | --- |
| 一 | 二 |
"""
    terms = index_terms(
        title="《大国工匠》：“吴运铎”！",
        summary="【专题】工匠·精神——https://x.example.com",
        body=body,
        tags=["工匠"],
        people_names=["吴运铎"],
    )
    for term in terms:
        bare = re.sub(r"^(?:py|pi|tag):", "", term)
        assert _CJK_TERM.fullmatch(bare) or _WORD_TERM.fullmatch(bare), term
        assert not re.search(r"[#*\[\]()<>`~!:/.@&：“”《》【】（）]", bare), term
    words = {t for t in terms if _WORD_TERM.fullmatch(t)}
    # no http, example, com, www, media, png, script, amp, os; the raw-HTML line shows
    # (escaped) as text, so the reader's "alert" is a word, but the tags are not
    assert words == {"code", "inline", "alert"}
    # what readers see is indexed: link text, alt text, quotes, table cells, title
    seen = {"链接", "文字", "图片", "说明", "献给", "车间", "班组", "一", "二", "大国", "国工"}
    assert seen <= set(terms)
    assert "参考" not in terms  # reference definitions are not shown
    assert "匠》" not in terms
    assert {"工匠", "精神"} <= set(terms) and "匠精" not in terms  # 工匠·精神: two runs


def test_terms_are_sorted_and_unique() -> None:
    terms = index_terms(
        title="工匠工匠", summary="工匠", body="工匠，工匠。", tags=["工匠"], people_names=["工匠"]
    )
    assert terms == sorted(set(terms))


def test_long_body_is_bounded_and_keeps_the_important_terms() -> None:
    # 100 000 characters of varied CJK text: far more distinct bigrams than the cap.
    body = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(100_000))
    late = body[: BODY_CHARS + 500] + "鑫鑫" + body[BODY_CHARS + 500 :]
    terms = index_terms(
        title="大国工匠", summary="一位钳工", body=late, tags=["湖湘工匠"], people_names=["吴运铎"]
    )
    assert len(terms) <= MAX_TERMS
    assert {"大国", "工匠", "钳工", "tag:湖湘工匠", "湖湘", "py:wuyunduo", "pi:wyd"} <= set(terms)
    assert body[:2] in terms  # the start of the body is indexed
    assert "鑫鑫" not in terms  # text past BODY_CHARS is not


def test_short_body_is_indexed_in_full() -> None:
    body = "开头" + "。" * (BODY_CHARS - 10) + "结尾"
    terms = set(index_terms(title="", summary="", body=body, tags=[], people_names=[]))
    assert {"开头", "结尾"} <= terms


def test_only_the_first_body_chars_are_indexed() -> None:
    # Few distinct bigrams, so the term cap is not what stops the marker.
    body = "开头" + "工匠" * BODY_CHARS + "结尾"
    terms = index_terms(title="", summary="", body=body, tags=[], people_names=[])
    assert len(terms) < 10
    assert "开头" in terms
    assert "结尾" not in terms


def test_body_gives_bigrams_but_no_unigrams_of_longer_runs() -> None:
    terms = set(index_terms(title="", summary="", body="工匠精神。匠", tags=[], people_names=[]))
    assert terms == {"工匠", "匠精", "精神", "匠"}
    terms = set(index_terms(title="", summary="", body="工匠精神", tags=[], people_names=[]))
    assert terms == {"工匠", "匠精", "精神"}


@pytest.mark.parametrize(
    "body", ["工" * 100_000, "a" * 100_000, "a@" * 50_000, "<a" * 50_000, "x.y" * 30_000]
)
def test_indexing_stays_bounded_on_hostile_bodies(body: str) -> None:
    # Bounded reads and backtracking-free patterns; how long it takes is measured by
    # bench/search.py (milliseconds), not asserted here.
    terms = index_terms(title=body, summary=body, body=body, tags=[body], people_names=[body])
    assert len(terms) <= MAX_TERMS


def test_ascii_words_and_digits() -> None:
    terms = set(
        index_terms(title="C919 大飞机", summary="A B cd", body="", tags=[], people_names=[])
    )
    assert {"c919", "cd"} <= terms
    assert not {"a", "b"} & terms  # single letters are not words
    assert find([make_story("C919 大飞机")], "c919") == ["C919 大飞机"]


# -- queries ---------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["", "   ", "\u3000\t\n", "！？。，", "a", "**"])
def test_empty_query_has_no_terms(q: str) -> None:
    query = query_terms(q)
    assert query.all_terms() == []
    assert mongo_filter(query) == {"terms": {"$in": []}}
    assert score(make_story("工匠精神", people=("吴运铎",)), query) == 0


def test_query_tokenisation() -> None:
    assert query_terms("吴运").cjk == ("吴运",)
    assert query_terms("工匠精神").cjk == ("工匠", "匠精", "精神")
    assert query_terms("工匠，精神").cjk == ("工匠", "精神")
    assert query_terms("WYD").all_terms() == ["pi:wyd", "py:wyd", "tag:wyd", "wyd"]
    assert query_terms("C919").all_terms() == ["c919", "tag:c919"]  # digits: no pinyin
    assert query_terms("wu yun-duo").joined == "wuyunduo"
    assert query_terms("wu 运").joined is None


def test_long_query_is_bounded() -> None:
    query = query_terms("工匠精神" * 5000)
    assert len(query.text) <= MAX_QUERY_CHARS
    assert len(query.all_terms()) <= 3 * MAX_QUERY_CHARS + 3


def test_mongo_filter_is_an_in_over_all_terms() -> None:
    query = query_terms("大国工匠 wyd")
    assert mongo_filter(query) == {"terms": {"$in": query.all_terms()}}
    assert "pi:wyd" in mongo_filter(query)["terms"]["$in"]


def test_score_tolerates_missing_fields() -> None:
    query = query_terms("工匠")
    assert score({"terms": ["工匠"]}, query) == 1.0
    assert score({}, query) == 0.0
    assert search.coverage({"工匠"}, query_terms("工匠精神")) == pytest.approx(1 / 3)
