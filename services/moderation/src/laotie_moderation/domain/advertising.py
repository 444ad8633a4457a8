"""False advertising (虚假宣传): absolute or unverifiable claims in listings and titles."""

from __future__ import annotations

import re

from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.normalize import squeeze

RULE_VERSION = "false_advertising@1"

ABSOLUTE = re.compile(
    r"(最(?:佳|好|强|优|高级|顶级|低价|低|畅销|便宜|先进|安全|有效|健康|正宗|受欢迎|划算|实惠|"
    r"专业|权威|耐用|舒服|保暖)|全网最低|史上最|第一品牌|销量第一|全国第一|全球第一|世界第一|"
    r"行业第一|排名第一|no1|numberone|第一名|国家级|世界级|全球级|宇宙级|顶级|独家|唯一|首选|"
    r"万能|绝对|100.{0,3}有效|百分百有效|百分之百有效|百分百|永久|永不|根治|治愈|药到病除|"
    r"无.{0,2}副作用|零风险|包治|特效|秒杀全网)"
)
# Ordinary phrases that contain the same characters.
BENIGN = re.compile(
    r"(第一次|第一天|第一批|第一步|第一眼|第一件|第一个|第一款|最佳赏味期|最好在|最好是|"
    r"最好不要|不是最|唯一的缺点|绝对值|永久地址|永久会员)"
)


def detect_false_advertising(text: str) -> Finding | None:
    """The first absolute claim in the text, once benign phrases are set aside."""
    match = ABSOLUTE.search(BENIGN.sub("", squeeze(text)))
    return Finding(f"{RULE_VERSION}:absolute_claim", match.group()) if match else None
