"""Demo content for ``python -m server seed``: honours, people, a dozen stories, covers.

Pure data and Pillow drawing: no database, no web server.

* ``HONOURS`` is the fixed list of honour names people may carry.
* ``DEMO_PEOPLE`` are the model workers and craftsmen that the Zhuzhou municipal
  people's congress standing committee decision of 28 May 2025 names. Only what the
  decision states is recorded: the names. It gives no honour, year or workplace for
  any of them, so those stay empty and editors fill them in from verified sources.
* ``DEMO_STORIES`` are original demo stories written for this project. Every title
  starts with ``【示例】`` and every body opens with a demo notice; their people
  (示例人物「…」) are fictional. The explainer story that links the real people names
  them only, without adding any deed.
* ``draw_cover`` and ``draw_portrait`` paint abstract JPEGs, deterministic from the
  story's ``cover_seed`` or the person's ``key``. Pillow's built-in font has no CJK
  glyphs, so the only text is ASCII.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw, ImageFilter, ImageFont

DemoCategory = Literal["model_worker", "craftsman", "frontline_worker", "team", "policy"]
CATEGORIES: tuple[DemoCategory, ...] = (
    "model_worker",
    "craftsman",
    "frontline_worker",
    "team",
    "policy",
)

HONOURS: tuple[str, ...] = (
    "全国劳动模范",
    "省劳动模范",
    "市劳动模范",
    "全国五一劳动奖章",
    "湖南省五一劳动奖章",  # the decision mentions the provincial 五一劳动奖
    "大国工匠",
    "湖湘工匠",
    "株洲工匠",
    "株洲工匠年度人物",
    "工人先锋号",
)

DEMO_TITLE_PREFIX = "【示例】"
DEMO_NOTICE_PREFIX = "> 本文为演示内容"
_FICTION_NOTICE = "> 本文为演示内容，人物与情节均为虚构。"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    key: str
    name: str
    honours: tuple[tuple[str, int | None], ...]
    workplace: str | None
    bio: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoStory:
    key: str
    title: str
    summary: str
    body_markdown: str
    category: DemoCategory
    tags: tuple[str, ...]
    person_keys: tuple[str, ...]
    pinned: bool
    cover_seed: int


# --------------------------------------------------------------------------- people

_NAMED_BIO = "市人大常委会2025年5月通过的决定中列举的劳模工匠代表人物之一。"
_NAMED_TAGS = ("劳模工匠", "株洲")


def _named(key: str, name: str) -> DemoPerson:
    return DemoPerson(
        key=key, name=name, honours=(), workplace=None, bio=_NAMED_BIO, tags=_NAMED_TAGS
    )


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    _named("wu-yunduo", "吴运铎"),
    _named("li-linzhuang", "李临庄"),
    _named("yi-tiexin", "易铁鑫"),
    _named("liu-youmei", "刘友梅"),
    _named("yi-ran", "易冉"),
    _named("liu-xiangguo", "柳祥国"),
)

# --------------------------------------------------------------------------- stories

_S01 = f"""{_FICTION_NOTICE}

## 一本“病历本”

清晨七点，示例人物**韩守岗**已经蹲在检修地沟边。他负责的这条机车检修线，三十年里换过五任班长，他自己却一直没挪过窝。

他的工具箱最底层压着一本硬皮笔记本，同事们管它叫“病历本”：

- 每一次异响出现的位置和声音特点；
- 每一个换下来的零件对应的磨损照片编号；
- 每一次判断失误之后写下的复盘。

## 先听，再拆

年轻人向他讨诀窍，他总是那句话：“别急着动扳手，先听。”在他看来，把一台车“听”明白，比把它拆开难得多。

后来，班组把这本笔记整理成电子版，它成了新员工报到后拿到的第一份教材。

## 评上劳模以后

获评**市劳动模范**那一年，他拿出奖金的一半，给班组工具柜添了几件新量具。有人问为什么，他只说：“工具顺手了，大家少走弯路。”

*（示例文本，用于展示文章排版。）*
"""

_S02 = f"""{_FICTION_NOTICE}

## 被笑“太笨”的学徒

示例人物**劳小勤**刚进压制车间时，是班里动作最慢的一个。别人练十遍就收工，她非要练到五十遍，手上的茧一层叠一层。

## 她的三条“笨办法”

1. **每天提前半小时到岗**，把前一天的废品一件件摆开来看；
2. **随身带一个小本子**，记下每台压机的“脾气”；
3. **不懂就问到底**，问师傅、问技术员，也问设备说明书。

## 笨功夫变成真本事

几年后，她摸索出一套减少压坯开裂的操作口诀，车间的合格率明显上去了。口诀被印成卡片贴在每台设备旁，新来的学徒一看就懂。

再后来，她被推荐为**省劳动模范**候选人。领奖台上，她说得很朴素：“我没有什么窍门，就是比别人多练了几遍。”

> 劳动没有捷径，可每一遍认真都会被记住。

*（示例文本，人物为虚构。）*
"""

_S03 = f"""{_FICTION_NOTICE}

## 每周三下午的一间教室

在一家示例企业的厂区深处，有一间挂着“劳模创新工作室”牌子的屋子。每到周三下午两点，这里就坐满了年轻的技术工人。

带头人是示例人物**任传薪**。他给这堂课定了三条规矩：

- 不讲空话，每次只解决**一个**现场难题；
- 谁提出的问题，谁上台讲思路；
- 课后必须留下一页纸的改进方案。

## 从一页纸到一项成果

一开始，大家交上来的方案很多只有几行字。坚持一年后，这些“一页纸”里有十几条被车间采纳，有两条还申报了专利。

## 他想传下去的是什么

“我能教的技术总会过时，”任传薪说，“但**遇到问题不绕开**的习惯，会跟着他们一辈子。”

如今，当年坐在台下的学员里，已经有人开始带自己的徒弟。

*（示例文本，用于演示“师带徒”类报道。）*
"""

_S04 = f"""{_FICTION_NOTICE}

## 问题：工匠精神到底是什么？

我们把这个问题抛给了示例人物**程一丝**——一位干了二十多年的焊工。他想了想，给出三个答案。

### 答案一：专注

“焊枪一响，脑子里就只剩这条焊缝。”他说，手稳不稳，先看心静不静。

### 答案二：较真

一条焊缝外观合格，他还要看探伤结果；探伤合格了，他还要琢磨能不能再省一道打磨工序。**差不多**这三个字，在他的班组里不太受欢迎。

### 答案三：传下去

他带过的徒弟有三十多个。他的要求只有一条：“我教你的，你要再教给别人。”

## 写在最后

三个答案，归结起来是三个词：

- **专注**：心静，手才稳；
- **较真**：不说“差不多”；
- **传承**：把本事教给下一个人。

工匠精神不挂在嘴上，而是落在一道道工序里。在程一丝看来，这四个字说到底，就是**把手头这件事做到自己满意，再做到别人放心**。

*（示例文本，人物与对话均为虚构。）*
"""

_S05 = f"""{_FICTION_NOTICE}

## 一根头发丝的六分之一

0.01 毫米，大约是一根头发丝直径的六分之一。示例人物**耿精益**每天的工作，就是和这个数字较劲。

他在一家示例航空零部件企业做精密加工。一个叶片类零件，从毛坯到成品要经过几十道工序，任何一道差一点，前面的功夫就白费了。

## 他的“三不”

- **不放过**一个读数异常的量具；
- **不凭感觉**调机床，每次调整都要记录；
- **不把问题**留给下一道工序。

## 慢慢来，反而更快

刚开始，同事嫌他太慢。可一年下来，他负责的零件返工最少，总体交付反而最快。

有人问他这算不算工匠精神，他摆摆手：“我只是不想让装到发动机里的东西出一点岔子。”

> 精度是量出来的，更是一点点较真较出来的。

*（示例文本，用于展示带引用块的排版。）*
"""

_S06 = f"""{_FICTION_NOTICE}

## 一炉窑火，一次实验

示例人物**窑小彩**是一位陶瓷釉色工艺师。她的工作台上摆满了编号的小瓷片，每一片都是一次配方实验。

## 她的实验记录

| 编号 | 调整内容 | 结果 |
| --- | --- | --- |
| 017 | 升温放慢 | 颜色更柔和 |
| 023 | 釉层加厚 | 出现细小气泡 |
| 031 | 换用新矿料 | 接近目标色 |

为了找到理想中的那一抹青色，她前前后后烧了**两百多炉**。

## 老手艺，新办法

她把每次烧成的温度曲线都存进电脑，和老师傅凭眼力看火的经验对照着看。“老经验是宝贝，数据能帮它说得更清楚。”

如今，她正把这些记录整理成一套教学资料，准备带进职业学校的课堂。

*（示例文本，人物与数据均为虚构。）*
"""

_S07 = f"""{_FICTION_NOTICE}

## 凌晨四点

城市还没醒，示例环卫班组的六名成员已经推着作业车出发。班长**路清晨**（示例人物）习惯先把整条路走一遍，看看昨夜哪里需要重点清扫。

## 一份早班清单

- 04:00 主干道机扫、人工补扫；
- 05:30 公交站台、人行道护栏擦洗；
- 06:30 早市周边垃圾收运；
- 07:30 交班前复查，拍照上传。

## 看不见的细节

下雨天，他们会提前清理路边的雨水篦子；节假日前，会把重点路段多扫一遍。很多市民并不知道这些，但第二天走在路上，会觉得“今天街面真干净”。

## 一句心里话

“我们干的活，做好了没人注意，做不好大家都看得见。”路清晨说，“所以更得用心。”

*向每一位早起的劳动者致敬。（示例文本。）*
"""

_S08 = f"""{_FICTION_NOTICE}

## 一堂特别的课

午后两点，送餐高峰刚过，一家工会驿站里坐满了外卖骑手。今天这堂课，讲的是**路上的安全**。

授课的是示例人物**安稳行**，他自己跑了五年外卖，从没出过一次事故。

## 他总结的安全要点

1. **宁晚一分，不抢一秒**：超时可以解释，受伤没法挽回；
2. **雨天提前减速**：井盖、斑马线最容易打滑；
3. **头盔扣好带**：戴上不扣，等于没戴；
4. **累了就歇**：驿站里有热水、充电口，也有能坐下来的椅子。

## 驿站不只是歇脚的地方

课后，大家顺便咨询了劳动权益方面的问题。工作人员一一记下，答应帮忙对接。

“以前觉得自己就是一个人在路上跑，”一位年轻骑手说，“现在知道，有人在后面撑着。”

*（示例文本，人物为虚构。）*
"""

_S09 = f"""{_FICTION_NOTICE}

## 一本摊开的账本

在一个获评**工人先锋号**的示例班组里，有一本特别的账本。它记的不是钱，而是大家提出的“五小”点子——小发明、小创造、小革新、小设计、小建议。

## 账本里的几笔

- **小革新**：给搬运工装加了一个限位块，装夹时间缩短了一半；
- **小设计**：把常用工具做成“影子板”，用完一眼就能看出少了什么；
- **小建议**：交接班时多说一句“今天注意什么”，差错明显减少。

## 人人都是记账人

班长示例人物**齐心远**定了个规矩：每个人每月至少记一笔，哪怕只是一个想法。“点子不怕小，就怕没人说。”

一年下来，账本写满了两本，其中一些点子已经推广到了兄弟班组。

> 一个人走得快，一群人走得远。

*（示例文本，班组与人物均为虚构。）*
"""

_S10 = f"""{_FICTION_NOTICE}

## 三家企业，一个难题

一家做电机，一家做铸件，一家做检测设备。三家示例企业本来各干各的，却被同一个难题绊住了：一种关键部件的振动噪声总是降不下来。

## 工作室“串门”

三家企业的创新工作室决定结成联盟，轮流做东：

1. **第一站**：电机企业摆出测试数据，大家一起找规律；
2. **第二站**：铸造企业开放车间，现场比对材料差异；
3. **第三站**：检测企业带来新设备，把问题“看”得更清楚。

## 结果

三个月后，联盟拿出了一套联合改进方案，噪声指标达到了预期。更重要的是，三家工作室的年轻人互相加了微信，有问题随时在群里喊一声。

联盟的发起人、示例人物**联众智**说：“技术没有围墙，**拆掉围墙**，办法就多了。”

*（示例文本，企业与人物均为虚构。）*
"""

_S11 = f"""{_FICTION_NOTICE}

## “五进”是哪五进？

在株洲，劳模和工匠不只在车间里发光，还会主动走出去，把故事和手艺带到更多人身边。大家常说的“五进”，指的就是去往下面五类地方：

1. **进校园**：给中小学生讲劳动的意义，给职校学生讲技能怎样一步步练成；
2. **进企业**：到生产一线交流经验，帮企业一起琢磨技术难题；
3. **进社区**：和居民面对面聊天，让身边的榜样看得见、够得着；
4. **进乡村**：把实用技术送到田间地头，也把奋斗故事讲给乡亲们听；
5. **进机关**：让机关干部听听一线的声音，更懂劳动者在想什么。

## 为什么要“走出去”？

榜样的力量，在于能被看见、被学习。一场讲座、一次示范、一回结对帮扶，都可能在某个人心里种下一颗种子。

## 你也可以参与

如果你的学校、单位或社区想邀请劳模工匠，可以留意小程序里的活动通知。

*（示例解读，文中场景为虚构，具体安排以官方发布为准。）*
"""

_S12 = """> 本文为演示内容，由示例编辑撰写；所列姓名均出自市人大常委会公开的决定，未补充任何事迹。

## 一份决定说了什么

2025年5月28日，株洲市十六届人大常委会第二十八次会议通过了一项决定，主题是弘扬**劳模精神、劳动精神、工匠精神**，为制造名城和幸福株洲凝聚精神力量。

## 株洲为什么特别看重这三种精神

决定回顾说，株洲是新中国重要的工业基地之一，产业工人在这里创造了三百四十多项工业“第一”。决定还点名了几位全国知名的劳模工匠（按姓名拼音排序）：

- 李临庄
- 刘友梅
- 柳祥国
- 吴运铎
- 易冉
- 易铁鑫

## 几个值得关注的举措

- 劳模评选要保证**一线劳动者**占有一定比例；
- 建设劳模和工匠人才**创新工作室**，并组建跨企业的联盟；
- 开展劳模工匠“**五进**”活动；
- 举办“神农杯”职工职业技能大赛，搭建“五小”创新成果平台；
- 开展“株洲工匠日”活动，发布“株洲工匠”和“株洲工匠年度人物”；
- 推行“新八级工”技能等级制度。

*（示例解读，完整内容请以官方发布的决定原文为准。）*
"""

DEMO_STORIES: tuple[DemoStory, ...] = (
    DemoStory(
        key="thirty-years-on-one-line",
        title="【示例】三十年守着一条检修线",
        summary="示例人物韩守岗在机车检修岗位一干三十年，工具箱里那本“病历本”成了新员工的第一份教材。",
        body_markdown=_S01,
        category="model_worker",
        tags=("劳模", "轨道交通", "检修"),
        person_keys=(),
        pinned=False,
        cover_seed=1101,
    ),
    DemoStory(
        key="apprentice-to-model-worker",
        title="【示例】从学徒到劳模：她把“笨功夫”练成了绝活",
        summary="被笑“太笨”的学徒劳小勤，靠每天多练几十遍，摸索出一套提高合格率的操作口诀。",
        body_markdown=_S02,
        category="model_worker",
        tags=("劳模", "女职工", "技能成长"),
        person_keys=(),
        pinned=False,
        cover_seed=1102,
    ),
    DemoStory(
        key="studio-wednesday-class",
        title="【示例】劳模创新工作室的“周三课堂”",
        summary="每周三下午，示例人物任传薪在工作室里只讲一个现场难题，一年攒下十几条被采纳的改进方案。",
        body_markdown=_S03,
        category="model_worker",
        tags=("创新工作室", "师带徒", "劳模"),
        person_keys=(),
        pinned=False,
        cover_seed=1103,
    ),
    DemoStory(
        key="craftsman-spirit-three-answers",
        title="【示例】工匠精神是什么？一位焊工的三个答案",
        summary="专注、较真、传下去——示例人物程一丝用二十多年焊接生涯，回答“工匠精神”四个字。",
        body_markdown=_S04,
        category="craftsman",
        tags=("工匠精神", "焊接", "株洲工匠"),
        person_keys=(),
        pinned=False,
        cover_seed=2201,
    ),
    DemoStory(
        key="one-hundredth-millimetre",
        title="【示例】0.01毫米的较真",
        summary="精密加工师傅耿精益的“三不”原则：不放过异常读数，不凭感觉调机床，不把问题留给下道工序。",
        body_markdown=_S05,
        category="craftsman",
        tags=("精密加工", "航空", "工匠精神"),
        person_keys=(),
        pinned=False,
        cover_seed=2202,
    ),
    DemoStory(
        key="kiln-glaze-lab",
        title="【示例】窑火旁的釉色实验",
        summary="为了一抹理想的青色，釉色工艺师窑小彩烧了两百多炉，还把老师傅的看火经验变成了数据。",
        body_markdown=_S06,
        category="craftsman",
        tags=("陶瓷", "传统技艺", "工匠"),
        person_keys=(),
        pinned=False,
        cover_seed=2203,
    ),
    DemoStory(
        key="street-at-4am",
        title="【示例】凌晨四点的街道：一支环卫班组的早班",
        summary="一份从凌晨四点排到七点半的清单，记下了城市醒来之前环卫班组做的那些看不见的事。",
        body_markdown=_S07,
        category="frontline_worker",
        tags=("环卫", "一线劳动者", "城市"),
        person_keys=(),
        pinned=False,
        cover_seed=3301,
    ),
    DemoStory(
        key="rider-safety-class",
        title="【示例】骑手的“安全第一课”",
        summary="工会驿站里的一堂安全课：跑了五年外卖的示例人物安稳行，总结出四条路上保平安的要点。",
        body_markdown=_S08,
        category="frontline_worker",
        tags=("新就业形态", "工会驿站", "骑手"),
        person_keys=(),
        pinned=False,
        cover_seed=3302,
    ),
    DemoStory(
        key="pioneer-team-ledger",
        title="【示例】一个“工人先锋号”班组的五小账本",
        summary="不记钱只记点子：一个示例班组把“五小”创意写进账本，一年写满两本，好点子推广到兄弟班组。",
        body_markdown=_S09,
        category="team",
        tags=("工人先锋号", "五小创新", "班组"),
        person_keys=(),
        pinned=False,
        cover_seed=4401,
    ),
    DemoStory(
        key="studio-alliance",
        title="【示例】三家企业一个联盟：创新工作室怎样“串门”",
        summary="三家示例企业的创新工作室轮流做东、联合攻关，三个月啃下了一个共同的振动噪声难题。",
        body_markdown=_S10,
        category="team",
        tags=("创新工作室", "跨企业协作", "技术攻关"),
        person_keys=(),
        pinned=False,
        cover_seed=4402,
    ),
    DemoStory(
        key="five-into-explainer",
        title="【示例】一文读懂“五进”：劳模工匠走进哪五个地方",
        summary="校园、企业、社区、乡村、机关——用五个场景说明劳模工匠“五进”活动是什么、为什么。",
        body_markdown=_S11,
        category="policy",
        tags=("五进", "政策解读", "劳模工匠"),
        person_keys=(),
        pinned=False,
        cover_seed=5501,
    ),
    DemoStory(
        key="why-three-spirits",
        title="【示例】读懂一份决定：株洲为什么要弘扬“三种精神”",
        summary="2025年5月，株洲市人大常委会就弘扬劳模精神、劳动精神、工匠精神作出决定，这里梳理要点。",
        body_markdown=_S12,
        category="policy",
        tags=("政策解读", "工匠精神", "劳模精神"),
        person_keys=tuple(p.key for p in DEMO_PEOPLE),
        pinned=True,
        cover_seed=5502,
    ),
)


def people_by_key() -> dict[str, DemoPerson]:
    return {p.key: p for p in DEMO_PEOPLE}


# --------------------------------------------------------------------------- drawing

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]
_Motif = Callable[[ImageDraw.ImageDraw, random.Random, int, int, RGB], None]

_SUPERSAMPLE = 2
_JPEG_QUALITY = 85

# (top, bottom, accent) per category
_PALETTES: dict[DemoCategory, tuple[RGB, RGB, RGB]] = {
    "model_worker": ((150, 20, 32), (226, 92, 46), (255, 211, 110)),
    "craftsman": ((16, 36, 72), (44, 96, 132), (214, 150, 92)),
    "frontline_worker": ((18, 86, 80), (124, 170, 96), (250, 222, 140)),
    "team": ((84, 38, 110), (222, 112, 64), (255, 200, 150)),
    "policy": ((26, 40, 66), (92, 110, 134), (226, 200, 150)),
}
_LABELS: dict[DemoCategory, str] = {
    "model_worker": "MODEL WORKER",
    "craftsman": "CRAFTSMAN",
    "frontline_worker": "FRONTLINE",
    "team": "TEAM",
    "policy": "POLICY",
}


def _rgba(color: RGB, alpha: int) -> RGBA:
    return (color[0], color[1], color[2], alpha)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB, angle: float) -> Image.Image:
    """A linear two-colour gradient, tilted by ``angle`` degrees."""
    # A gradient is smooth: work at an eighth of the size, then scale up.
    w, h = max(2, size[0] // 8), max(2, size[1] // 8)
    side = math.ceil(math.hypot(w, h)) + 2
    mask = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, upper = (side - w) // 2, (side - h) // 2
    mask = mask.crop((left, upper, left + w, upper + h)).resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _glow(base: Image.Image, center: tuple[int, int], radius: int, color: RGB, alpha: int) -> None:
    """Blend a soft radial glow into ``base`` (RGB, in place)."""
    mask = Image.radial_gradient("L").resize((radius * 2, radius * 2), Image.Resampling.BILINEAR)
    # radial_gradient is 0 at the centre and about 181 at the middle of each edge
    mask = mask.point(lambda v: round(max(0.0, 1 - v / 181) ** 2 * alpha))
    base.paste(Image.new("RGB", mask.size, color), (center[0] - radius, center[1] - radius), mask)


def _gear(
    d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, teeth: int, fill: RGBA, turn: float
) -> None:
    points: list[tuple[float, float]] = []
    step = 2 * math.pi / teeth
    for i in range(teeth):
        a = turn + i * step
        for da, rr in ((-0.30, r * 0.82), (-0.18, r), (0.18, r), (0.30, r * 0.82)):
            points.append(
                (cx + rr * math.cos(a + da * step * 1.6), cy + rr * math.sin(a + da * step * 1.6))
            )
    d.polygon(points, fill=fill)
    hole = r * 0.34
    d.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=(0, 0, 0, 0))
    ring = r * 0.62
    d.ellipse(
        (cx - ring, cy - ring, cx + ring, cy + ring),
        outline=(0, 0, 0, 0),
        width=max(2, round(r * 0.06)),
    )


def _star(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: RGBA, turn: float) -> None:
    points = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.42
        a = turn - math.pi / 2 + i * math.pi / 5
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    d.polygon(points, fill=fill)


def _leaf(
    d: ImageDraw.ImageDraw, x: float, y: float, length: float, angle: float, fill: RGBA
) -> None:
    """A grain / leaf: a pointed ellipse from (x, y) along ``angle``."""
    width = length * 0.32
    points = []
    for i in range(17):
        t = i / 16
        along = t * length
        across = math.sin(t * math.pi) * width / 2
        points.append((along, across))
    points += [(a, -c) for a, c in reversed(points)]
    ca, sa = math.cos(angle), math.sin(angle)
    d.polygon([(x + a * ca - c * sa, y + a * sa + c * ca) for a, c in points], fill=fill)


def _motif_model_worker(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    cx, cy = w * rng.uniform(0.66, 0.76), h * rng.uniform(0.38, 0.48)
    r = h * 0.26
    rays = rng.choice((16, 20, 24))
    for i in range(rays):
        a = i * 2 * math.pi / rays
        spread = math.pi / rays * 0.45
        far = r * 2.6
        d.polygon(
            [
                (cx, cy),
                (cx + far * math.cos(a - spread), cy + far * math.sin(a - spread)),
                (cx + far * math.cos(a + spread), cy + far * math.sin(a + spread)),
            ],
            fill=_rgba(accent, 34),
        )
    # ribbon tails under the medal, each with a V notch
    hw, tilt, y0, y1 = r * 0.2, r * 0.16, cy + r * 0.6, cy + r * 1.95
    for side in (-1, 1):
        x0 = cx + side * r * 0.3
        d.polygon(
            [
                (x0 - hw, y0),
                (x0 + hw, y0),
                (x0 + hw + side * tilt, y1),
                (x0 + side * tilt, y1 - r * 0.2),
                (x0 - hw + side * tilt, y1),
            ],
            fill=_rgba(accent, 200),
        )
    d.ellipse((cx - r * 1.18, cy - r * 1.18, cx + r * 1.18, cy + r * 1.18), fill=_rgba(accent, 130))
    d.ellipse(
        (cx - r * 1.02, cy - r * 1.02, cx + r * 1.02, cy + r * 1.02),
        outline=_rgba((255, 255, 255), 150),
        width=round(r * 0.04),
    )
    _star(d, cx, cy, r * 0.8, _rgba((255, 244, 214), 235), rng.uniform(-0.05, 0.05))


def _motif_craftsman(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    r1 = h * rng.uniform(0.28, 0.33)
    cx1, cy1 = w * 0.7, h * 0.44
    teeth1 = rng.choice((12, 14, 16))
    _gear(d, cx1, cy1, r1, teeth1, _rgba(accent, 215), rng.uniform(0, math.pi))
    r2 = r1 * rng.uniform(0.5, 0.6)
    a = rng.uniform(2.4, 3.4)
    dist = (r1 + r2) * 0.9
    _gear(
        d,
        cx1 + dist * math.cos(a),
        cy1 + dist * math.sin(a),
        r2,
        rng.choice((8, 9, 10)),
        _rgba((235, 240, 245), 170),
        rng.uniform(0, math.pi),
    )
    r3 = r1 * 0.42
    _gear(
        d,
        cx1 + (r1 + r3) * 0.95,
        cy1 + r1 * 0.9,
        r3,
        8,
        _rgba(accent, 120),
        rng.uniform(0, math.pi),
    )
    # precision crosshair
    px, py, pr = w * 0.12, h * 0.26, h * 0.09
    line = _rgba((235, 240, 245), 110)
    for k in (1.0, 0.62, 0.25):
        d.ellipse((px - pr * k, py - pr * k, px + pr * k, py + pr * k), outline=line, width=3)
    d.line((px - pr * 1.4, py, px + pr * 1.4, py), fill=line, width=3)
    d.line((px, py - pr * 1.4, px, py + pr * 1.4), fill=line, width=3)


def _motif_frontline(
    d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB
) -> None:
    sx, sy, sr = w * rng.uniform(0.68, 0.8), h * 0.5, h * 0.2
    d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=_rgba(accent, 200))
    for k, alpha in ((1.35, 60), (1.75, 30)):
        d.ellipse(
            (sx - sr * k, sy - sr * k, sx + sr * k, sy + sr * k),
            outline=_rgba(accent, alpha),
            width=6,
        )
    # rolling fields
    for i, alpha in enumerate((110, 150, 200)):
        base = h * (0.62 + i * 0.1)
        amp = h * rng.uniform(0.02, 0.05)
        phase = rng.uniform(0, math.tau)
        pts = [(0.0, float(h))]
        for step in range(0, w + 1, max(1, w // 60)):
            pts.append((step, base + amp * math.sin(phase + step / w * math.tau * 1.3)))
        pts.append((float(w), float(h)))
        d.polygon(pts, fill=_rgba(_mix((20, 60, 50), accent, 0.15 * i), alpha))
    # wheat stalks
    for _ in range(rng.randint(4, 6)):
        x = w * rng.uniform(0.36, 0.6)
        top = h * rng.uniform(0.22, 0.36)
        bottom = float(h)
        lean = rng.uniform(-0.08, 0.08)
        stalk = _rgba((250, 232, 170), 200)
        tip_x = x + lean * (bottom - top)
        d.line((x, bottom, tip_x, top), fill=stalk, width=5)
        grain = h * 0.05
        for j in range(6):
            t = j / 6
            gx = tip_x + (x - tip_x) * t * 0.35
            gy = top + (bottom - top) * t * 0.35
            up = -math.pi / 2 + lean
            _leaf(d, gx, gy, grain, up - 0.55, stalk)
            _leaf(d, gx, gy, grain, up + 0.55, stalk)
        _leaf(d, tip_x, top + grain * 0.2, grain, -math.pi / 2 + lean, stalk)


def _motif_team(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB) -> None:
    cx, cy = w * 0.68, h * 0.46
    ring = h * 0.27
    n = rng.choice((5, 6, 7))
    turn = rng.uniform(0, math.tau)
    nodes = [
        (
            cx + ring * math.cos(turn + i * math.tau / n),
            cy + ring * math.sin(turn + i * math.tau / n),
        )
        for i in range(n)
    ]
    link = _rgba((255, 255, 255), 120)
    for i, (x, y) in enumerate(nodes):
        for x2, y2 in nodes[i + 1 :]:
            d.line((x, y, x2, y2), fill=link, width=3)
        d.line((x, y, cx, cy), fill=link, width=3)
    nr = h * 0.12
    for i, (x, y) in enumerate(nodes):
        color = accent if i % 2 == 0 else (255, 255, 255)
        d.ellipse((x - nr, y - nr, x + nr, y + nr), fill=_rgba(color, 120))
        d.ellipse(
            (x - nr * 0.45, y - nr * 0.45, x + nr * 0.45, y + nr * 0.45), fill=_rgba(color, 220)
        )
    cr = h * 0.09
    d.ellipse((cx - cr, cy - cr, cx + cr, cy + cr), fill=_rgba((255, 255, 255), 230))
    d.ellipse(
        (cx - ring * 1.55, cy - ring * 1.55, cx + ring * 1.55, cy + ring * 1.55),
        outline=_rgba(accent, 90),
        width=4,
    )


def _motif_policy(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, accent: RGB) -> None:
    # a civic building: steps, columns, pediment
    bw = w * 0.34
    x0 = w * rng.uniform(0.55, 0.6)
    x1 = x0 + bw
    base = h * 0.8
    stone = _rgba((240, 236, 226), 215)
    for k in range(3):
        inset = k * bw * 0.03
        d.rectangle(
            (
                x0 - bw * 0.06 + inset,
                base + k * -h * 0.025,
                x1 + bw * 0.06 - inset,
                base + (1 - k) * h * 0.025 + h * 0.025,
            ),
            fill=stone,
        )
    top = h * 0.38
    cols = rng.choice((5, 6))
    col_w = bw / (cols * 2 - 1)
    for i in range(cols):
        cx = x0 + i * col_w * 2
        d.rectangle((cx, top + h * 0.04, cx + col_w, base - h * 0.05), fill=stone)
    d.rectangle((x0 - bw * 0.04, top, x1 + bw * 0.04, top + h * 0.05), fill=stone)
    d.polygon(
        [(x0 - bw * 0.06, top), ((x0 + x1) / 2, top - h * 0.16), (x1 + bw * 0.06, top)], fill=stone
    )
    d.ellipse(
        ((x0 + x1) / 2 - h * 0.03, top - h * 0.09, (x0 + x1) / 2 + h * 0.03, top - h * 0.03),
        fill=_rgba(accent, 255),
    )
    # document lines on the left
    px, py = w * 0.08, h * 0.22
    pw, ph = w * 0.2, h * 0.42
    d.rounded_rectangle(
        (px, py, px + pw, py + ph),
        radius=h * 0.02,
        fill=_rgba((255, 255, 255), 40),
        outline=_rgba((255, 255, 255), 120),
        width=3,
    )
    for i in range(7):
        ly = py + ph * 0.14 + i * ph * 0.11
        lw = pw * (0.75 if i % 3 else 0.5)
        d.rounded_rectangle(
            (px + pw * 0.1, ly, px + pw * 0.1 + lw, ly + ph * 0.035),
            radius=4,
            fill=_rgba(accent, 160),
        )


_MOTIFS: dict[DemoCategory, _Motif] = {
    "model_worker": _motif_model_worker,
    "craftsman": _motif_craftsman,
    "frontline_worker": _motif_frontline,
    "team": _motif_team,
    "policy": _motif_policy,
}


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def draw_cover(story: DemoStory, size: tuple[int, int] = (1200, 675)) -> bytes:
    """An abstract JPEG cover for ``story``: same ``cover_seed`` and size, same bytes."""
    w, h = size
    big_w, big_h = w * _SUPERSAMPLE, h * _SUPERSAMPLE
    rng = random.Random(story.cover_seed)  # noqa: S311 - decoration, not security
    top, bottom, accent = _PALETTES[story.category]

    image = _gradient((big_w, big_h), top, bottom, rng.uniform(-35, 35))
    _glow(
        image, (round(big_w * rng.uniform(0.55, 0.85)), round(big_h * 0.4)), big_h // 2, accent, 90
    )

    # soft background circles, drawn and blurred at a quarter of the size
    soft_w, soft_h = max(1, big_w // 4), max(1, big_h // 4)
    soft = Image.new("RGBA", (soft_w, soft_h), (0, 0, 0, 0))
    sd = ImageDraw.Draw(soft)
    for _ in range(rng.randint(3, 5)):
        r = soft_h * rng.uniform(0.15, 0.4)
        x, y = soft_w * rng.uniform(0, 1), soft_h * rng.uniform(0, 1)
        sd.ellipse((x - r, y - r, x + r, y + r), fill=_rgba((255, 255, 255), rng.randint(14, 30)))
    soft = soft.filter(ImageFilter.GaussianBlur(soft_h * 0.02))
    soft = soft.resize((big_w, big_h), Image.Resampling.BILINEAR)
    canvas = Image.alpha_composite(image.convert("RGBA"), soft)

    layer = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    _MOTIFS[story.category](ImageDraw.Draw(layer), rng, big_w, big_h, accent)
    canvas = Image.alpha_composite(canvas, layer)

    text = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    td = ImageDraw.Draw(text)
    margin = round(big_h * 0.08)
    # "DEMO" pill, top left
    pill_font = _font(round(big_h * 0.045))
    left, upper, right, lower = td.textbbox((0, 0), "DEMO", font=pill_font)
    pad_x, pad_y = big_h * 0.025, big_h * 0.014
    box = (
        margin,
        margin,
        margin + (right - left) + 2 * pad_x,
        margin + (lower - upper) + 2 * pad_y,
    )
    td.rounded_rectangle(box, radius=(box[3] - box[1]) / 2, fill=(255, 255, 255, 225))
    td.text(
        (margin + pad_x - left, margin + pad_y - upper),
        "DEMO",
        font=pill_font,
        fill=_rgba(top, 255),
    )
    # category label, bottom left, with a rule above it
    label = _LABELS[story.category]
    label_font = _font(round(big_h * 0.1))
    left, upper, right, lower = td.textbbox((0, 0), label, font=label_font)
    lx, ly = margin - left, big_h - margin - (lower - upper) - upper
    td.text((lx + 4, ly + 4), label, font=label_font, fill=(0, 0, 0, 70))
    td.text((lx, ly), label, font=label_font, fill=(255, 255, 255, 240))
    rule_y = ly + upper - big_h * 0.04
    td.rectangle(
        (margin, rule_y, margin + big_h * 0.14, rule_y + big_h * 0.012), fill=_rgba(accent, 255)
    )
    small = _font(round(big_h * 0.032))
    td.text(
        (margin, rule_y - big_h * 0.065),
        "JIANGXIN  ·  ZHUZHOU",
        font=small,
        fill=(255, 255, 255, 170),
    )
    canvas = Image.alpha_composite(canvas, text)

    return _encode(canvas.resize(size, Image.Resampling.LANCZOS))


def draw_portrait(person: DemoPerson, size: tuple[int, int] = (600, 600)) -> bytes:
    """An abstract JPEG avatar (no initials), deterministic from ``person.key``."""
    digest = hashlib.sha256(person.key.encode("utf-8")).digest()
    w, h = size
    big_w, big_h = w * _SUPERSAMPLE, h * _SUPERSAMPLE
    hue = digest[0] / 255

    def colour(h_shift: float, sat: float, val: float) -> RGB:
        hh = (hue + h_shift) % 1.0
        i = int(hh * 6)
        f = hh * 6 - i
        p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
        r, g, b = ((val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q))[
            i % 6
        ]
        return (round(r * 255), round(g * 255), round(b * 255))

    dark, light = colour(0.0, 0.7, 0.42), colour(0.08, 0.55, 0.82)
    image = _gradient((big_w, big_h), dark, light, (digest[1] / 255 - 0.5) * 90)
    canvas = image.convert("RGBA")
    layer = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy = big_w / 2, big_h / 2
    side = min(big_w, big_h)
    # concentric rings
    for k in range(4):
        r = side * (0.46 - k * 0.09)
        d.ellipse(
            (cx - r, cy - r, cx + r, cy + r),
            outline=(255, 255, 255, 50 + 25 * k),
            width=round(side * 0.012),
        )
    # orbiting discs placed by the hash
    for k in range(5):
        angle = digest[2 + k] / 255 * math.tau
        dist = side * (0.12 + (digest[7 + k] / 255) * 0.24)
        r = side * (0.05 + (digest[12 + k] / 255) * 0.09)
        x, y = cx + dist * math.cos(angle), cy + dist * math.sin(angle)
        fill = colour(0.12 * (k + 1), 0.45, 0.95)
        d.ellipse((x - r, y - r, x + r, y + r), fill=_rgba(fill, 140 + digest[17 + k] % 90))
    core = side * 0.1
    d.ellipse((cx - core, cy - core, cx + core, cy + core), fill=(255, 255, 255, 220))
    canvas = Image.alpha_composite(canvas, layer)
    return _encode(canvas.resize(size, Image.Resampling.LANCZOS))
