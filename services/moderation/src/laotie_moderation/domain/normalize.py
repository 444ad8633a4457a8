"""Undo the usual disguises before matching: full-width forms, circled and Chinese digits,
separators and emoji between characters, upper case."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Chinese numerals (including the financial forms and 幺 for 1, as phone numbers are read).
_CN_DIGITS = str.maketrans(
    {
        "零": "0",
        "〇": "0",
        "洞": "0",
        "一": "1",
        "壹": "1",
        "幺": "1",
        "弌": "1",
        "二": "2",
        "贰": "2",
        "貳": "2",
        "两": "2",
        "三": "3",
        "叁": "3",
        "參": "3",
        "四": "4",
        "肆": "4",
        "五": "5",
        "伍": "5",
        "六": "6",
        "陆": "6",
        "陸": "6",
        "七": "7",
        "柒": "7",
        "拐": "7",
        "八": "8",
        "捌": "8",
        "九": "9",
        "玖": "9",
        "勾": "9",
    }
)
# What carries no meaning: all but latin letters, digits and CJK ideographs.
_NOT_MEANINGFUL = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


# Traditional characters common in listings, as their simplified forms (one for one, so
# positions in the folded text still line up with the original's).
_TRADITIONAL = str.maketrans(
    "萬極絕對優無敵廣獨醫療癒藥護顏強級權專國寶質價銷網淨潔乾麼讓體臟腦膚滅預減長髮頂紋養壽"
    "證認薦機關總稱舉雙與倫買賣錢這個們來說時會見現點號電話臉膠換冠軍銷第壹貳風濕頸腫瘤癢"
    "瘡痠補腎陽糖壓脂選經歷史鑑權衛維偉圍碼聯繫郵箱掃",
    "万极绝对优无敌广独医疗愈药护颜强级权专国宝质价销网净洁干么让体脏脑肤灭预减长发顶纹养寿"
    "证认荐机关总称举双与伦买卖钱这个们来说时会见现点号电话脸胶换冠军销第壹贰风湿颈肿瘤痒"
    "疮酸补肾阳糖压脂选经历史鉴权卫维伟围码联系邮箱扫",
)


# Digit forms NFKC leaves alone: dingbat circled digits (❶ ➀ ➊) and double-circled ones (⓵);
# their 10 (❿) is left as it is, as one character cannot become two here.
_DINGBAT_DIGITS = str.maketrans(
    {
        **{chr(base + n): str(n + 1) for base in (0x2776, 0x2780, 0x278A) for n in range(9)},
        **{chr(0x24F5 + n): str(n + 1) for n in range(9)},
        "⓿": "0",
    }
)
# Letters of other alphabets that look like latin ones (Ѵ信, Ꮩx, Сontact), as those letters.
_LOOKALIKES = str.maketrans(
    "ѴѵᏙνАаВЕеКкМНОоРрСсТуХхԚԛΑΒΕΗΙΚΜΝΟΡΤΧΥΖ",
    "VvVvAaBEeKkMHOoPpCcTyXxQqABEHIKMNOPTXYZ",
)
# Accents on latin letters (Vīx, wēixìn): combining marks once NFKD has split them off.
_ACCENTED = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f]")
_ACCENT = re.compile(r"[\u0300-\u036f]")


def fold(text: str) -> str:
    """NFKC (full-width → ASCII, ① → 1, ⑴ → (1)), dingbat digits (❶ → 1), look-alike letters
    of other alphabets (Ѵ → v), accents dropped from latin letters (ī → i), lower case, common
    traditional characters as simplified ones (萬能 → 万能)."""
    text = text.translate(_DINGBAT_DIGITS).translate(_LOOKALIKES)
    if _ACCENTED.search(text):
        text = _ACCENT.sub("", unicodedata.normalize("NFKD", text))
    return unicodedata.normalize("NFKC", text).lower().translate(_TRADITIONAL)


def digits_folded(text: str) -> str:
    """:func:`fold`, then Chinese numerals as ASCII digits."""
    return digits_of(fold(text))


def digits_of(folded: str) -> str:
    """:func:`digits_folded` of text already through :func:`fold`."""
    return folded.translate(_CN_DIGITS)


def squeeze(text: str) -> str:
    """Only the meaningful characters: separators, punctuation, spaces and emoji dropped
    (a plus sign is read as 加, "add", as in +v)."""
    return squeezed_of(fold(text))


def squeezed_of(folded: str) -> str:
    """:func:`squeeze` of text already through :func:`fold`."""
    return _NOT_MEANINGFUL.sub("", folded.replace("+", "加").replace("➕", "加"))


def digit_runs(text: str, max_gap: int = 3) -> list[tuple[int, str]]:
    """Runs of digits in :func:`digits_folded` text that may be broken by up to ``max_gap``
    non-meaningful characters (``1 3 8-1234.5678``, ``1️⃣3️⃣8``). Returns (start, digits)."""
    return runs_of(digits_folded(text), max_gap)


def runs_of(digits: str, max_gap: int = 3) -> list[tuple[int, str]]:
    """:func:`digit_runs` of text already through :func:`digits_folded`."""
    return [(m.start(), _NOT_DIGIT.sub("", m.group())) for m in _run(max_gap).finditer(digits)]


@functools.cache
def _run(max_gap: int) -> re.Pattern[str]:
    return re.compile(r"\d(?:[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]{0," + str(max_gap) + r"}\d)*")


_NOT_DIGIT = re.compile(r"\D")


@dataclass(frozen=True)
class Pinyin:
    """Romanised words read as the Chinese they stand for: ``Pinyin.of({"zui hao": "最好"})``
    reads ``zui hao``, ``zuihao`` or ``Zui  Hao`` as 最好 in :func:`fold` text, as whole latin
    words only (``zuijin`` and ``mazuihao`` are not ``zui hao``)."""

    pattern: re.Pattern[str]
    hanzi: dict[str, str]

    @classmethod
    def of(cls, table: dict[str, str]) -> Pinyin:
        spelled = sorted(table, key=len, reverse=True)
        words = "|".join(r"[\s._-]*".join(map(re.escape, w.split())) for w in spelled)
        initials = "".join(sorted({w[0] for w in table}))
        pattern = re.compile(rf"(?<![a-z])(?=[{initials}])(?:{words})(?![a-z])")
        return cls(pattern, {"".join(w.split()): hanzi for w, hanzi in table.items()})

    def replace(self, folded: str) -> str:
        if not _LATIN_PAIR.search(folded):
            return folded
        return self.pattern.sub(lambda m: self.hanzi[_NOT_LATIN.sub("", m.group())], folded)


_LATIN_PAIR = re.compile(r"[a-z]{2}")
_NOT_LATIN = re.compile(r"[^a-z]")
