"""Undo the usual disguises before matching: full-width forms, circled and Chinese digits,
separators and emoji between characters, upper case."""

from __future__ import annotations

import re
import unicodedata

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
# Characters that carry meaning: latin letters, digits and CJK ideographs.
_MEANINGFUL = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")


def fold(text: str) -> str:
    """NFKC (full-width → ASCII, ① → 1, ⑴ → (1)), then lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def digits_folded(text: str) -> str:
    """:func:`fold`, then Chinese numerals as ASCII digits."""
    return fold(text).translate(_CN_DIGITS)


def squeeze(text: str) -> str:
    """Only the meaningful characters: separators, punctuation, spaces and emoji dropped
    (a plus sign is read as 加, "add", as in +v)."""
    return "".join(_MEANINGFUL.findall(fold(text).replace("+", "加").replace("➕", "加")))


def digit_runs(text: str, max_gap: int = 3) -> list[tuple[int, str]]:
    """Runs of digits in :func:`digits_folded` text that may be broken by up to ``max_gap``
    non-meaningful characters (``1 3 8-1234.5678``, ``1️⃣3️⃣8``). Returns (start, digits)."""
    folded = digits_folded(text)
    runs = []
    pattern = re.compile(r"\d(?:[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]{0," + str(max_gap) + r"}\d)*")
    for match in pattern.finditer(folded):
        runs.append((match.start(), re.sub(r"\D", "", match.group())))
    return runs
