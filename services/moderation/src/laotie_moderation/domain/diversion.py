"""Off-platform diversion (引导站外交易): contact details or off-platform payment in text.

The rules are a pure function of the text. They look through the disguises sellers use:
full-width and circled digits, Chinese numerals (一三八 / 壹叁捌 / 幺), separators and emoji
between characters, and homophones or abbreviations of the contact apps (V信, 薇信, 威信,
vx, wx, 加v, 扣扣, 企鹅). They stay quiet on what merely looks similar: prices, dates,
order and model numbers, V-necks, 微笑 and 微波炉, the platform's own customer service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from laotie_moderation.domain.normalize import digit_runs, digits_folded, fold, squeeze

RULE_VERSION = "diversion@1"

# Contact apps, after squeeze() (no separators, lower case, full-width folded).
WECHAT = re.compile(
    r"(微信|威信|薇信|维信|維信|徽信|嶶信|微芯|薇芯|卫星号|v信|v芯|wei信|vx|wx|wechat|weixin|"
    r"(?:微|威|薇|徽)(?:xin|x)(?![a-z])|"
    r"加我?(?:v|微|薇|威|徽)|加信(?!用|号|心)|v加|"
    r"(?:私信|私聊|私|找|戳|搜)我?(?:要|发|的)?v(?![a-z])|"
    r"vx号|v号|wx号|徽|薇|威威|绿泡泡)"
)
QQ = re.compile(
    r"(?<![a-z])(qq|扣扣|叩叩|蔻蔻|企鹅号|企鹅|球球号|q号|加q|群号)(?!糖|子|币|音乐|空间会员)"
)
# "v: someone", "薇：someone" — an app's initial used as a label before an id.
LABEL = re.compile(r"(?<![a-z0-9])(v|vx|wx|w|q|qq|薇|威|微|扣)\s*:\s*[a-z0-9_-]{4,}")
PHONE_WORDS = re.compile(r"(电话|手机号|手机|来电|致电|热线|call|tel|打给我|拨打)")
INTENT = re.compile(
    r"(加|搜|私聊|私信|私我|联系|找我|添加|咨询|详聊|详谈|戳|扫|私下|加我|主页|号码|号是|id|"
    r"置顶|简介|签名|评论区)"
)
OFF_PLATFORM_PAY = re.compile(
    r"(私下.{0,4}(?:交易|转账|付款|买|卖|下单|联系)|线下交易|线下转账|不走平台|绕过平台|"
    r"走私单|私单|(?:支付宝|v信|微信|银行卡).{0,4}转|加我付款|扫码付款|收款码|转账给我|"
    r"转给我|打款给我|银行卡号|直接转我|"
    r"淘宝店|淘宝搜|去淘宝|上淘宝|拼多多店|闲鱼号|闲鱼搜|抖音号|抖音搜|微店|有赞店)"
)
# Digits that are order, parcel, model or batch numbers, not contacts.
NUMBER_CONTEXT = re.compile(r"(订单|单号|快递|运单|物流|编号|型号|批号|货号|条码|序列号|sku|款号)")
SERVICE_OK = re.compile(r"(联系客服|咨询客服|找客服|平台客服|官方客服|在线客服)")
PHONE = re.compile(r"^1[3-9]\d{9}$")
LATIN_ID = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9_-]{5,19}(?![a-z0-9])")


@dataclass(frozen=True)
class Finding:
    rule: str
    detail: str


def detect_diversion(text: str) -> Finding | None:
    """The first diversion rule the text trips, or None."""
    squeezed = squeeze(text)
    folded = fold(text)
    payment = OFF_PLATFORM_PAY.search(squeezed)
    if payment:
        return Finding(f"{RULE_VERSION}:off_platform_payment", payment.group())
    label = LABEL.search(folded)
    if label:
        return Finding(f"{RULE_VERSION}:labelled_contact", label.group())
    for start, digits in digit_runs(text):
        if PHONE.match(digits) and not _number_context(digits_folded(text), start):
            return Finding(f"{RULE_VERSION}:phone_number", digits)
    apps = [(m, "wechat") for m in WECHAT.finditer(squeezed)]
    apps += [(m, "qq") for m in QQ.finditer(squeezed)]
    phone_words = list(PHONE_WORDS.finditer(squeezed))
    if not apps and not phone_words:
        return None
    if SERVICE_OK.search(squeezed) and not apps:
        return None
    squeezed_digits = squeeze(digits_folded(text))
    long_digits = [d for _, d in digit_runs(text, max_gap=3) if len(d) >= 5]
    has_id = bool(long_digits) or bool(_latin_ids(folded))
    for match, app in apps:
        window = squeezed[max(0, match.start() - 6) : match.end() + 8]
        if INTENT.search(window) or has_id:
            return Finding(f"{RULE_VERSION}:{app}_contact", match.group())
    if phone_words and any(len(d) >= 7 for d in re.findall(r"\d+", squeezed_digits)):
        return Finding(f"{RULE_VERSION}:phone_contact", phone_words[0].group())
    return None


def _number_context(folded: str, start: int) -> bool:
    before = squeeze(folded[max(0, start - 12) : start])
    return bool(NUMBER_CONTEXT.search(before[-8:]))


_COMMON_LATIN = {
    "iphone",
    "huawei",
    "xiaomi",
    "samsung",
    "vivo",
    "oppo",
    "honor",
    "redmi",
    "apple",
    "nike",
    "adidas",
    "uniqlo",
    "kuaishou",
    "douyin",
    "taobao",
    "promax",
    "pro",
    "plus",
    "ultra",
    "size",
    "color",
    "style",
    "cotton",
    "summer",
    "winter",
    "spring",
    "autumn",
}


def _latin_ids(folded: str) -> list[str]:
    """Latin tokens that look like account ids: letters then digits/underscores mixed in."""
    found = []
    for token in LATIN_ID.findall(folded):
        if token in _COMMON_LATIN:
            continue
        if re.search(r"\d", token) or "_" in token or "-" in token:
            found.append(token)
    return found
