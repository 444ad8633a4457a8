"""Off-platform diversion (引导站外交易): contact details or off-platform payment in text.

The rules are a pure function of the text. They look through the disguises sellers use:
full-width and circled digits, Chinese numerals (一三八 / 壹叁捌 / 幺), separators and emoji
between characters, and homophones or abbreviations of the contact apps (V信, 薇信, 威信,
vx, wx, 加v, 扣扣, 企鹅). They stay quiet on what merely looks similar: prices, dates,
order and model numbers, V-necks, 微笑 and 微波炉, the platform's own customer service.

Families, in the order they are tried (the first that trips names the finding):

- ``off_platform_payment``: payment or trade steered off the platform (私下转账, 转我银行卡,
  zfb 转), or buyers sent to another platform's shop or account (淘宝搜, 小红书搜同名); not
  when the phrase is negated (不支持私下交易, 请勿相信任何私下转账, 本店不是淘宝店) or
  the text warns against fraud (谨防, 冒充, 诈骗).
- ``labelled_contact``: an app's initial as a label before an id (``v: someone``).
- ``phone_number``: a mobile number through the digit disguises.
- ``wechat_contact`` / ``qq_contact`` / ``phone_contact``: a contact app's name with an
  intent to add or an id in the text; then any spelling of 微信 (a 微-like character and a
  信-like one: 卫心, 溦信, 喂信, 威x, 微訫) or of QQ (扣, 🐧, kou kou) directly followed by
  an account id or a number (``危心 bb6868``, ``扣 5 4 3 2 1 0 9 8``).
- ``other_app_contact``: an e-mail address, or a Telegram / WhatsApp / LINE handle.
- ``contact_reference``: a contact pointed at rather than given (主页有联系方式, 头像上有号,
  私聊拿号, 看我简介加我, 老地方找我).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from laotie_moderation.domain.normalize import digits_of, fold, runs_of, squeezed_of

RULE_VERSION = "diversion@6"

# Contact apps, after squeeze() (no separators, lower case, full-width folded).
WECHAT = re.compile(
    r"(微信|威信|薇信|维信|維信|徽信|嶶信|微芯|薇芯|卫星号|v信|v芯|wei信|vx|wx|wechat|weixin|"
    r"(?:微|威|薇|徽)(?:xin|x)(?![a-z])|"
    r"加我?(?:v|微(?![辣甜酸咸麻胖醺调糖量波距型笑])|薇|威|徽)|加我?[胃蔚尉危卫喂围唯韦伟魏溦][信芯心訫欣鑫馨]|加信(?!用|号|心)|v加|(?<![a-z])v[ie]x(?![a-z])|"
    r"(?:私信|私聊|私|找|戳|搜)我?(?:要|发|的)?v(?![a-z])|加个v(?![a-z])|(?<![a-z])[wv]x同号|"
    r"vx号|v号|wx号|徽|(?<!薇)薇(?!薇)|威威|小绿(?!植|叶|茶|豆|萝|色|裙|瓶|灯|车)|绿泡泡|绿色的?(?:泡泡|软件|聊天软件|app)(?!袖|裙|纱|灯|机|糖)|"
    r"卫星(?!导航|定位|电视|天线|地图|云图|信号|通信|遥感|接收|图|锅|城|网)|[嘉佳家][维微薇威](?![生修护持])|"
    r"我的?v(?:号|就是|是)|(?:和|跟|与)v同号|(?<![a-z])v(?:号)?同号|"
    # "V me" before an id (not V我50, a payment); wei … xin spelled apart
    r"(?<![a-z])v我(?![0-9一二三四五六七八九十百])|(?<![a-z])wei[\u4e00-\u9fff]{1,6}xin(?![a-z])|"
    r"[喂卫危围唯韦伟魏溦胃蔚][信芯心訫欣鑫](?=搜|号|加|上|:))"
)
QQ = re.compile(
    r"(?<![a-z])(qq|扣扣|叩叩|蔻蔻|抠抠|秋秋|koukou|企鹅号|企鹅|球球号|q号|加q|群号|鹅厂号|鹅厂(?=\s*\d))"
    r"(?!糖|子|币|裤|音乐|空间会员)"
)
# vx / wx naming a product series or model (VX系列, VX-200), not the app.
APP_AS_MODEL = re.compile(r"(?:系列|型号|款|代|pro|max|plus|mini|\d{2,4}(?!\d))")
# "v: someone", "薇：someone" — an app's initial used as a label before an id.
LABEL = re.compile(
    r"(?<![a-z0-9])(v|vx|wx|w|q|qq|wei|weixin|wechat|vix|薇|威|微|扣|小号)"
    r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff:]{0,3}:\s*[a-z0-9_-]{4,}"
)
PHONE_WORDS = re.compile(
    r"(电话|手机号|手机|座机|固话|来电|致电|热线|call|tel|打给我|拨打|dianhua)"
)
INTENT = re.compile(
    r"(加|搜|私聊|私信|私我|联系|找我|添加|咨询|详聊|详谈|戳|扫|私下|加我|主页|号码|号是|id|移步|转战|同名|"
    r"置顶|简介|签名|评论区|回复|关注|(?:就是|同)我?的?(?:快手|抖音|手机)号?|"
    # the buyer's contact asked for, or the seller's asked about (留下你的绿泡泡, 有微信吗)
    r"留下?你?的|有没有|有(?=[^|]{1,3}吗)|是多少|多少)"
)
OFF_PLATFORM_PAY = re.compile(
    r"(私下.{0,4}(?:交易|转账|转|付款|买|卖|下单|联系|走|聊|价)|对公(?:转账|账户|打款)|开户行|淘口令|"
    r"不(?:用|要|必|需要?)(?:走|通过|经过)(?:快手|平台|小黄车|链接)|"
    r"不在(?:快手|平台|这里?|这边)上?(?:交易|买|卖|下单|拍)|加[^|]{0,2}好友[^|]{0,6}外面|"
    r"不(?:用|要|必|需要?)(?:在|上)(?:快手|平台|这里?|这边|小黄车|直播间|链接)(?:里|上)?"
    r"(?:拍|下单|买|付款|付)|不(?:用|要|必)拍(?:链接|小黄车)|(?<![a-z])v我(?:\d+|[一二三四五六七八九十百两]+)|"
    r"线下交易|线下转账|不走平台|绕过平台|"
    # (微信上转给我看的视频 is sharing, not paying)
    r"走私单|私单|(?:支付宝|zfb|zhifubao|v信|微信|银行卡).{0,4}转(?!给我看|发|过来看|给我的视频)|"
    r"加我付款|扫码付款|收款码|"
    r"转账给我|转给我(?!看|的视频|的链接)|打款给我|银行卡号|直接转我|走红包|同城面交|"
    r"(?:转|打|付)(?:钱|款|账|定金|订金|尾款)?(?:给|到)?我的?(?:银行卡|卡上|卡里|支付宝|zfb|微信|v|账户)|"
    r"卡号私发|私发卡号|发你卡号|转(?:到|给|进)?(?:支付宝|zfb|zhifubao|微信|v信|vx|银行卡|卡上|卡里)|"
    # a private price: the deal moved to a chat, even the platform's own (私聊便宜三十)
    r"私(?:聊|信|你|我|下)?我?(?:再|更|还|给你)*(?:便宜|低价|内部价|私价|少[0-9一二三四五六七八九十两])|私[你我]?价|"
    r"私(?:信|聊)[^|]{0,10}(?:别|不要|先别)拍|(?:别|不要|先别)拍[^|]{0,10}私(?:信|聊)|"
    r"(?:定金|订金|尾款|余款)先?(?:转|打|付)(?:给)?我|"
    r"私[聊信下你我]?.{0,8}(?:打包价|内部价|单独价|暗号价|价格另算|另算|更实惠|实惠点|便宜点|底价|更低)|"
    r"发个?红包(?:过来|给我)|(?:剩下|尾款|余款|差价)的?钱?(?:微信|v|vx|支付宝|zfb|私下|扫码)(?:补|付|转)|"
    r"当面交易|现金交易|现金就行|(?<![a-z])走(?:v|vx)(?![a-z])|"
    r"(?:拍下?|下单|链接|拍链接)不如私(?:信|聊|我)|(?:发|走)?红包(?:下单|付款|支付|买)|"
    r"(?:不在|不从)(?:这里|这边|直播间|快手|平台)(?:卖|买|拍|下单)|这边只做?展示)"
)
# Buyers sent to another platform's shop or account (naming it as a style's origin is fine).
_PLATFORMS = (
    r"(?:淘宝|桃宝|陶宝|掏宝|天猫|拼多多|pdd|闲鱼|咸鱼|抖音|dou音|抖yin|斗音|逗音|小红书|红书|京东|狗东|得物|视频号|"
    r"(?<![0-9a-z])(?:tb|jd|dy|xhs|taobao|tmall)(?![a-z])|"
    r"某宝|某猫|某东|[拼并某]夕夕|某多多|某鱼|某音|某书)"
)
OTHER_PLATFORM = re.compile(
    rf"((?:去|上|到|打开){_PLATFORMS}(?:搜|找|买|拍|下单|店)?|打开手淘|"
    rf"走{_PLATFORMS}(?!物流|快递|配送|仓|自营)|"
    rf"(?:{_PLATFORMS}|微博|围脖|b站|(?<![a-z])wb(?![a-z]))(?:店铺?|搜|号|账号|主页|同名|直播间|私信|私聊|找我|下单|留言)|"
    # a shop of ours there, and buyers sent to it (拼夕夕有我家旗舰店 … 去那边拍)
    rf"{_PLATFORMS}上(?:挂着|挂了|有货|有卖)|"
    rf"{_PLATFORMS}.{{0,4}}(?:我们?家?|咱家|本店)?也?有(?:我们?家?的?)?[\u4e00-\u9fff]{{0,4}}店|"
    rf"{_PLATFORMS}.{{0,14}}(?:去那(?:边|里|儿)?(?:拍|买|下单)?|(?:拍|买)那边|"
    r"那边(?:拍|买|下单|便宜|更便宜|券多|有现货|有货))|"
    r"小红薯上?(?:搜|私信|号|主页|店|同名)|"
    # a cheaper shop there, then what to search for (拼多多同款店铺更低，搜阿强水果)
    rf"{_PLATFORMS}[^|]{{0,12}}?(?:更低|更便宜|便宜)[^|]{{0,3}}搜|"
    r"(?:关注|加|搜)(?:公众号|视频号)|(?:公众号|视频号|小程序)(?:搜|里回复|回复)|微店|有赞店?)"
)
# The text just before a steering phrase that warns against it or denies it.
NEGATED = re.compile(
    r"(?:不|没|无|勿|别|禁|拒绝|谨防|警惕|小心|防止|杜绝|并非|非)"
    r"(?:支持|接受|提供|允许|要|能|可|会|做|搞|进行|参与|相信|信|是|在|去|用|开|有|加|添加|私加|接)?"
    r"(?:让|叫|要求)?(?:你|您|大家|买家)?"
    r"(?:任何|陌生人的?|什么|和|与|跟|他人|其他)*$"
)
# A warning against fraud: the steering phrases in it are what not to do.
WARNING = re.compile(
    r"(诈骗|冒充|骗子|防骗|谨防|警惕|上当|受骗|(?:不要|别|勿|切勿)(?:相信|信)|官方不会|举报|投诉|网络梗|别当真|骗人|被骗|长点心|"
    r"都是假货|别点|"
    r"没有?(?:任何)?保障|无保障|不受保护|帮不了你|维权无门|"
    r"后果自负|是假的|概不负责|平台不负责|出了问题.{0,3}(?:不管|自己负责)|没有?售后|"
    r"(?:一定|务必|请|记得)走平台)"
)
# Just before a contact app: the act of adding it denied (主播不会让你加私人微信, 不加微信,
# 请勿添加陌生人的vx); 不用/不必 are not denials (不用在平台拍 加我vx steers off it).
NEGATED_CONTACT = re.compile(
    r"(?:不|别|勿|禁止|严禁|拒绝|从不|绝不|不会|不要|谨防|警惕|没有|没)(?:会|要|能|可|得|主动|私自)?"
    r"(?:让|叫|要求|要)?(?:你|您|大家|买家)?(?:私自|私下|主动)?(?:加|添加|联系|扫|用)?"
    r"(?:私人|个人|任何|陌生人?的?|其他|的)*$"
)
# Digits that are order, parcel, model or batch numbers, not contacts.
NUMBER_CONTEXT = re.compile(r"(订单|单号|快递|运单|物流|编号|型号|批号|货号|条码|序列号|sku|款号)")
SERVICE_OK = re.compile(r"(联系客服|咨询客服|找客服|平台客服|官方客服|在线客服)")
PHONE = re.compile(r"^1[3-9]\d{9}$")
COUNTRY_CODE = re.compile(r"^(?:00)?86")
REVERSED = re.compile(r"(倒着|倒过来|倒序|反着|反过来|从后往前|reversed?|backwards)")
LATIN_ID = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9_-]{5,19}(?![a-z0-9])")
# A model or part number (XR-2000, vx-200), not an account id.
MODEL_CODE = re.compile(r"^[a-z]{1,5}-[0-9]{2,6}[a-z]{0,3}$")

# Spellings of 微信 and QQ directly before an account id or number (in digits_folded text).
_GAP = r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]{0,3}"
_WEI = "微威薇维維徽嶶溦卫衛喂危围圍唯惟韦伟偉魏巍煨偎葳胃蔚尉"
_XIN = "信芯心新訫欣鑫馨辛昕忻伈"
_WECHAT_SPELLING = rf"(?:[{_WEI}]|(?<![a-z])(?:v|wei)){_GAP}(?:[{_XIN}]|xin|x(?![a-z]))"
_QQ_SPELLING = rf"(?<![a-z])(?:q|qq|kou{_GAP}kou)(?![a-z])|[扣叩蔻]|抠抠|秋秋|🐧|企鹅|球球"
HANDLE_AFTER = re.compile(
    rf"(?P<word>{_WECHAT_SPELLING}|{_QQ_SPELLING}){_GAP}(?:号码?|搜|是|同号|id|聊)?{_GAP}"
    rf"(?P<id>\d(?:{_GAP}\d){{5,}}|[a-z](?:[ ._-]?[a-z0-9_-]){{3,19}})"
)
QQ_SPELLING = re.compile(_QQ_SPELLING)
OTHER_APP = re.compile(
    r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}|"
    r"(?:(?<![a-z])(?:telegram|whatsapp|tg|line\s*id|skype)|飞机号|纸飞机)\s*[:：]?\s*@?"
    r"[a-z][a-z0-9_.-]{3,}|飞机\s*[:：]?\s*@[a-z][a-z0-9_.-]{3,}|"
    # another messenger with a colon, a handle or a number; "DM me on Instagram"
    r"(?<![a-z])(?:telegram|whatsapp|instagram|facebook|signal|kakao(?:talk)?|line|ins|ig|fb)"
    r"(?:\s*id)?(?:\s+(?:me|us|at|on))?\s*(?:私信|私聊|搜)?\s*(?:[:：]\s*[@+]?[a-z0-9][a-z0-9_.-]{3,}|[:：]?\s*@[a-z0-9][a-z0-9_.-]{3,}|"
    r"[:：]?\s*\+?\d[\d\s-]{6,}\d)|"
    r"(?:telegram|whatsapp|(?<![a-z])tg|电报|纸飞机)\s*(?:上|里)?\s*(?:找我|加我|联系我|私聊|私我)|"
    r"(?:telegram|(?<![a-z])tg|电报|纸飞机)\s*(?:搜|频道|群)|"
    r"(?<![a-z])(?:dm|message|msg|contact|text|add|find|follow|reach|ping)\s+(?:me|us)\s+"
    r"(?:on|at|via|in)\s+(?:instagram|ig|ins|whatsapp|telegram|line|facebook|fb|wechat|signal)|"
    r"(?:钉钉|电报|纸飞机|tg)(?:号|id)?\s*[:：]?\s*(?:搜)?\s*@?[a-z][a-z0-9_.-]{3,}"
)
# An e-mail address spelled out: name at gmail dot com, name(at)163(dot)com, 艾特.
SPELLED_EMAIL = re.compile(
    r"[a-z0-9_-]\s*[(\[]?\s*(?:(?<![a-z])at|艾特|圈a|圈圈a|小老鼠|@)\s*[)\]]?\s*[a-z0-9-]{2,}\s*"
    r"[(\[]?\s*(?:dot|点|\.)\s*[)\]]?\s*(?:com|net|cn|org)(?![a-z])"
)
_PLACE = r"(?:主页|简介|头像|背景图?|资料卡?|个签|签名|置顶|自动回复)"
# Where a contact hides besides the profile: pictures, covers, the shop's or account's name.
_PICTURE = r"(?:封面|作品|商品图|主图|详情图|第.张图|图里|图片里|店名|昵称|贴片|字幕)"
# What a hidden contact is called: a number, the app's id, "that string of letters".
_CONTACT_NOUN = (
    r"(?:号码|手机号|电话(?!手表|卡|机)|联系方式|微信号?|vx号?|v号|qq号?|[那这]个号|"
    r"[那这]串(?:字母|数字|号码?|v|英文|id|拼音)|(?:后面|里面?|上面?)的?(?:数字|字母))"
)
CONTACT_REFERENCE = re.compile(
    rf"({_PLACE}(?:上|面|里|中|的|有|见|看|在|我|你)*(?:联系方式|号(?![码链\d])|电话|二维码|vx|微信)|"
    r"(?:微信|vx|wx|v信|qq|扣扣|企鹅|钉钉|tg|电报|whatsapp|telegram)[\u4e00-\u9fff]{0,3}群|拉你们?进群|"
    rf"联系方式(?:在|见|看)?(?:{_PLACE}|私信|私聊|私发|评论区?)|号在{_PLACE}|"
    # a place pointed at, then "the number is there" (看置顶评论区，号在那)
    rf"(?:{_PLACE}|{_PICTURE}|评论区)[^|]{{0,12}}?(?<![单订])号就?在(?:那|这)|"
    r"(?:拿|发|要|给|留|(?<!隐)私)(?:你|我)?个?号(?:码)?(?![链\d]|施令|排队)|我的号(?![码链\d]|是\d)|"
    rf"{_PLACE}(?:上|里|中)?(?:加我|找我|私我|联系我)|"
    r"老地方(?:找|见|加|联系)我|"
    rf"{_CONTACT_NOUN}.{{0,10}}?(?:{_PLACE}|{_PICTURE})|(?:{_PLACE}|{_PICTURE}).{{0,10}}?{_CONTACT_NOUN}|"
    r"[那这]串(?:字母|数字|号码?|v|英文|id|拼音)(?:加|搜|打|就是)|"
    r"(?:加|拉|找|私|联系|搜)我?的?(?:小号|私人号|工作号|备用号|新号|大号)|"
    r"(?:长按|扫码|扫一扫|扫一下|扫描|扫了|识别).{0,6}(?:加我|加好友|加群|进群)|长按识别|"
    rf"(?:{_PLACE}|{_PICTURE})(?:里|上)?扫码|号就?在我?的?(?:{_PLACE}|{_PICTURE})|"
    r"(?:拼|连|合|串)起来.{0,4}(?:打|加|搜|就是)|"
    rf"{_PLACE}第.(?:行|句|个字)(?:就是|是我|加|搜)|(?:q|v|扣扣|企鹅|飞机|纸飞机)群|"
    # a number given in pieces, a picture's or profile's "that one"
    r"(?:号码|电话|手机号?).{0,6}(?:前|后|中间)[三四34]位|(?:电话|手机号?|号码).{0,3}1[3-9]\d开头|"
    rf"(?:{_PICTURE}|{_PLACE}).{{0,10}}?(?:加那个|加这个|打那个|那个就是|那串就是))"
)
# A contact said not to be there (头像是我家猫 不是联系方式).
DENIED_CONTACT = re.compile(
    rf"(?:不是|没有|没|无|并非|不含|不放|不留|不提供)(?:任何|的)*{_CONTACT_NOUN}"
)


# Emoji standing for the words of a contact: a satellite, a green chat bubble, a paper plane,
# a peach for 桃(宝).
_EMOJI_WORDS = (
    ("🛰", "卫星"),
    ("🌍⭐", "卫星"),
    ("🌏⭐", "卫星"),
    ("🌎⭐", "卫星"),
    ("🟢💬", "绿泡泡"),
    ("💚💬", "绿泡泡"),
    ("✈️", "飞机"),
    ("✈", "飞机"),
    ("🍑", "桃"),
    ("🟢", "绿"),
    ("💚", "绿"),
    ("🍠", "小红薯"),
    ("ㄨㄒ", "wx"),
)


# Letters or digits typed one by one with spaces between (w x ：d a n d a n 2 0 2 6).
_SPACED_LETTERS = re.compile(r"(?<![a-z0-9])[a-z0-9](?: [a-z0-9])+(?![a-z0-9])")
# A text telling that letters stand for digits (O和I是数字): read them as those digits.
DIGIT_STAND_INS = re.compile(r"[oil](?:[和与、,]?[oil])*是数字")
_LETTERS_AS_DIGITS = str.maketrans({"o": "0", "i": "1", "l": "1"})


@dataclass(frozen=True)
class Finding:
    rule: str
    detail: str


@dataclass(frozen=True)
class _Text:
    """One text, normalised once for every rule."""

    text: str
    folded: str
    squeezed: str
    digits: str
    runs: list[tuple[int, str]]

    @classmethod
    def of(cls, text: str) -> _Text:
        folded = _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", ""), fold(text))
        for emoji, word in _EMOJI_WORDS:
            folded = folded.replace(emoji, word)
        told = DIGIT_STAND_INS.search(folded)
        if told:  # 158 O9I2（O和I是数字）: the letters before the telling are digits
            folded = folded[: told.start()].translate(_LETTERS_AS_DIGITS) + folded[told.start() :]
        digits = digits_of(folded)
        return cls(text, folded, squeezed_of(folded), digits, runs_of(digits))


def detect_diversion(text: str) -> Finding | None:
    """The first diversion rule the text trips, or None."""
    seen = _Text.of(text)
    for rule in _RULES:
        finding = rule(seen)
        if finding is not None:
            return finding
    return None


def _finding(name: str, detail: str) -> Finding:
    return Finding(f"{RULE_VERSION}:{name}", detail)


def _off_platform(seen: _Text) -> Finding | None:
    """Payment or buyers steered off the platform, unless the phrase is negated."""
    squeezed = seen.squeezed
    if WARNING.search(squeezed):
        return None
    for pattern in (OFF_PLATFORM_PAY, OTHER_PLATFORM):
        negated_until = None  # a negation covers a list (不会让你去淘宝拼多多下单)
        for match in pattern.finditer(squeezed):
            listed = negated_until is not None and match.start() <= negated_until + 1
            if listed or NEGATED.search(squeezed[max(0, match.start() - 10) : match.start()]):
                negated_until = match.end()
                continue
            return _finding("off_platform_payment", match.group())
    return None


def _labelled(seen: _Text) -> Finding | None:
    label = LABEL.search(seen.folded)
    return _finding("labelled_contact", label.group()) if label else None


def _phone_number(seen: _Text) -> Finding | None:
    """A mobile number, also after +86 / 0086, or read backwards when the text says so."""
    backwards = REVERSED.search(seen.squeezed) is not None
    for start, digits in seen.runs:
        if _number_context(seen.digits, start):
            continue
        number = COUNTRY_CODE.sub("", digits) if len(digits) > 11 else digits
        if PHONE.match(number) or (backwards and PHONE.match(number[::-1])):
            return _finding("phone_number", digits)
    return None


def _app_contact(seen: _Text) -> Finding | None:
    """A contact app's name with an intent to add nearby or an id anywhere in the text."""
    squeezed = seen.squeezed
    apps = [(m, "wechat") for m in WECHAT.finditer(squeezed) if not _app_as_model(squeezed, m)]
    apps += [(m, "qq") for m in QQ.finditer(squeezed)]
    phone_words = list(PHONE_WORDS.finditer(squeezed))
    if not apps and not phone_words:
        return None
    if SERVICE_OK.search(squeezed) and not apps:
        return None
    long_digits = [d for _, d in seen.runs if len(d) >= 5]
    has_id = bool(long_digits) or bool(_latin_ids(seen.folded))
    warned = not has_id and WARNING.search(squeezed) is not None
    for match, app in apps:
        if warned or _contact_negated(squeezed, match.start()):
            continue  # a warning against adding anyone (谨防诈骗…加vx的都是骗子), 不加微信
        window = squeezed[max(0, match.start() - 6) : match.end() + 8]
        if INTENT.search(window) or has_id:
            return _finding(f"{app}_contact", match.group())
    squeezed_digits = squeezed_of(seen.digits)
    if phone_words and any(len(d) >= 7 for d in re.findall(r"\d+", squeezed_digits)):
        return _finding("phone_contact", phone_words[0].group())
    return None


def _app_as_model(squeezed: str, match: re.Match[str]) -> bool:
    return match.group() in ("vx", "wx") and bool(APP_AS_MODEL.match(squeezed, match.end()))


def _handle_after_word(seen: _Text) -> Finding | None:
    """Any spelling of 微信 or QQ directly followed by an account id or a number."""
    for match in HANDLE_AFTER.finditer(seen.digits):
        handle = re.sub(r"[^0-9a-z_-]", "", match.group("id"))
        if not (_is_account_id(handle) if handle[0].isalpha() else _is_number_id(handle)):
            continue  # a word, a model number, 66666 cheering or 扣 1 2 3 4 5 6 votes
        app = "qq" if QQ_SPELLING.match(match.group("word")) else "wechat"
        return _finding(f"{app}_contact", match.group())
    return None


STAND_IN = re.compile(r"(\S)\s*(?:换成|替换成|改成)\s*(?:@|艾特)")


def _other_app(seen: _Text) -> Finding | None:
    folded = seen.folded
    stand_in = STAND_IN.search(folded)
    if stand_in:  # linda.wu#gmail.com（#换成@）
        folded = folded.replace(stand_in.group(1), "@")
    match = OTHER_APP.search(folded)
    if match is None and ("dot" in folded or "点" in folded or "." in folded):
        match = SPELLED_EMAIL.search(folded)
    handle = "@" in match.group() or any(len(d) >= 5 for _, d in seen.runs) if match else False
    if match is None or (WARNING.search(seen.squeezed) and not handle):
        return None  # 有人冒充主播让大家进Telegram群，全是假的
    return _finding("other_app_contact", match.group())


def _contact_reference(seen: _Text) -> Finding | None:
    if WARNING.search(seen.squeezed) and not any(len(d) >= 5 for _, d in seen.runs):
        return None  # 防骗提醒: 企鹅群领返利全是诈骗
    for match in CONTACT_REFERENCE.finditer(seen.squeezed):
        if _number_context(seen.squeezed, match.start() + 1) or DENIED_CONTACT.search(
            match.group()
        ):
            continue  # 快递单号在详情图: a parcel's number; 不是联系方式: no contact at all
        if not _contact_negated(seen.squeezed, match.start()):
            return _finding("contact_reference", match.group())
    return None


def _contact_negated(squeezed: str, start: int) -> bool:
    # 能不能加个v asks for the contact; it denies nothing
    before = _ASKED.sub("", squeezed[max(0, start - 12) : start])
    return NEGATED_CONTACT.search(before) is not None


_ASKED = re.compile(r"能不能|可不可以|会不会|要不要|方不方便|行不行")


_RULES = (
    _off_platform,
    _labelled,
    _phone_number,
    _app_contact,
    _handle_after_word,
    _other_app,
    _contact_reference,
)


def _number_context(folded: str, start: int) -> bool:
    before = squeezed_of(folded[max(0, start - 12) : start])
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


def _is_account_id(token: str) -> bool:
    """Letters with digits, ``_`` or ``-`` mixed in, that are neither a common word nor a
    model number."""
    if token in _COMMON_LATIN or MODEL_CODE.match(token):
        return False
    return bool(re.search(r"\d", token)) or "_" in token or "-" in token


def _is_number_id(digits: str) -> bool:
    """Not one digit repeated (66666) nor counting up (123456)."""
    counting = all(int(b) - int(a) == 1 for a, b in itertools.pairwise(digits))
    return len(set(digits)) > 1 and not counting


def _latin_ids(folded: str) -> list[str]:
    """Latin tokens that look like account ids: letters then digits/underscores mixed in."""
    return [token for token in LATIN_ID.findall(folded) if _is_account_id(token)]
