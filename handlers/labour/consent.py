"""The guardian-consent text (PIPL Art. 28 and 31: a minor's personal information needs
the separate consent of a parent or other guardian), versioned.

A new wording is a new entry with a new version: joins must name the current version,
and every consent records the version it was given for (and the text's SHA-256), so
what a guardian agreed to can always be shown again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

RELATIONSHIPS = ("father", "mother", "grandparent", "other_guardian")


@dataclass(frozen=True, slots=True)
class ConsentText:
    version: str
    title: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()


TEXTS = {
    "2026-12-01": ConsentText(
        version="2026-12-01",
        title="劳动教育打卡 监护人同意书",
        text=(
            "尊敬的家长（监护人）：\n"
            "您的孩子将通过“匠心”小程序参加学校的劳动教育打卡。为此，我们需要处理孩子的以下个人信息："
            "孩子的真实姓名、所在学校和班级、打卡记录（时间、文字说明、劳动时长）以及孩子上传的打卡照片。\n"
            "一、用途：仅用于学校布置、记录和评价劳动教育任务（含综合素质评价），不用于任何其他目的，"
            "不向学校以外的任何人提供，不做广告或推荐。\n"
            "二、可见范围：孩子的真实姓名只有本班老师可见；打卡照片不公开，只有孩子本人、本班老师和平台管理员"
            "通过有时效的链接查看。\n"
            "三、保存期限：在孩子参加劳动教育期间保存；您撤回同意或注销账号后即删除打卡记录和照片。\n"
            "四、您的权利：您可以随时在小程序中代孩子撤回同意（“撤回监护人同意”），撤回后孩子不能再打卡，"
            "已有的打卡记录和照片会被删除，孩子的账号保留为普通用户账号；您也可以查阅、导出或删除孩子的个人信息。\n"
            "五、未满十四周岁的孩子的个人信息属于敏感个人信息，我们依照《中华人民共和国个人信息保护法》"
            "第二十八条、第三十一条的规定，取得您的单独同意后才处理。\n"
            "点击“同意”即表示您是孩子的父母或其他监护人，已阅读并同意以上内容。"
        ),
    ),
}
CURRENT_VERSION = "2026-12-01"


def current() -> ConsentText:
    return TEXTS[CURRENT_VERSION]
