"""False advertising (虚假宣传): absolute or unverifiable claims in listings and titles.

Families, in the order they are tried (the first that trips names the finding):

- ``absolute_claim``: superlatives and absolute words (最好, 顶级, 第一品牌, 极品, 史无前例,
  绝无仅有, 销量冠军, 万能, 永不, 百分百有效).
- ``medical_claim``: a disease treated, prevented or relieved by ordinary goods (治鼻炎,
  降三高, 抗癌, 调理糖尿病, 不用再吃药).
- ``guaranteed_effect``: an effect promised (无效退款, 保证有效, 一次见效, 7天瘦20斤,
  皱纹全消, 躺着瘦).
- ``endorsement_claim``: an authority named as endorsing or supplying (央视指定, 中南海特供,
  国宴指定, 专家推荐, 医院同款).

The text is read through the disguises: separators and emoji (最🔥强), full-width forms
(第１), pinyin (zui hao, di yi, wan neng) and homophones (醉好, 弟一). Set aside first: a
certification title (国家级非遗, 国家级自然保护区), a minimum order or a discount's depth
(最低1件起购, 全场最低5折), a hedged or negated comparison (不敢说最好, 不是最便宜), a
style or a printed slogan (治愈系, 永不言弃), a composition (百分百纯棉), the ordinary
senses of 第一 and 最 (第一次, 最好不要), and a negated claim (不能治病, 不保证效果).
"""

from __future__ import annotations

import re

from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.normalize import Pinyin, fold, squeezed_of

RULE_VERSION = "false_advertising@1"

_NUM = "0-9一二两三四五六七八九十半"
ABSOLUTE = re.compile(
    r"(最(?:佳|好|强|优|高级|顶级|低价|低|畅销|便宜|先进|安全|有效|健康|正宗|受欢迎|划算|实惠|"
    r"专业|权威|耐用|舒服|保暖)|全网最低|史上最|第一品牌|销量第一|全国第一|全球第一|世界第一|"
    r"行业第一|排名第一|全网第一|同类第一|品类第一|no1|numberone|第一名|国家级|世界级|全球级|"
    r"宇宙级|顶级|极品|极佳|独家|唯一|首选|万能|绝对|100.{0,3}有效|百分百有效|百分之百有效|"
    r"百分百|永久|永不|根治|治愈|药到病除|无.{0,2}副作用|零风险|包治|特效|秒杀全网|"
    r"史无前例|绝无仅有|前所未有|独一无二|无与伦比|举世无双|空前绝后|"
    r"(?:销量|销售|行业|全网|全国)冠军|销冠|极致|天花板级|(?:界|圈|中|里)的?天花板|"
    r"天花板(?:之作|存在|水平|品质)|(?:吊打|碾压)(?:全网|同行|一切|所有|大牌|同价位|同级|同类)|"
    r"秒杀(?:一切|所有|同行|同级|同价位|同类)|(?:没有|无|找不到)(?:任何)?对手|无人能(?:及|敌|比)|"
    r"遥遥领先|(?:世界|国际|全球|行业|国内)领先|领先(?:世界|全球|国际|全行业)|"
    r"thebest(?!before)|bestin(?:the)?world|worlds?best|number1(?!\d)|100(?:works|effective)|"
    r"nosideeffects?|miracle)"
)
_DISEASE = (
    r"(?:[^，。]{0,3}?(?:病|炎|癌|瘤|症|疮|痔)|三高|高血压|血压|血糖|血脂|尿酸|失眠|脱发|"
    r"便秘|痛风|湿疹|脚气|灰指甲|近视|颈椎|腰椎|前列腺|风湿|关节痛)"
)
MEDICAL = re.compile(
    rf"((?:治|治疗|医治|根除|调理|降|抗|消|缓解|改善|防治){_DISEASE}|防癌|降压|降糖|降脂|"
    r"不用再?吃.{0,3}药|告别吃药|摆脱药物|可以停药|"
    r"(?:提高|提升|增强|增加)(?:智力|智商|免疫力?|抵抗力|记忆力)|抗衰老?|抗老化|延年益寿|"
    r"长生不老|返老还童|(?:预防|防)(?:流感|感冒|老年痴呆|中风)|调节(?:内分泌|血压|血糖|血脂|免疫)|"
    r"改善(?:前列腺|内分泌)|壮阳|curescancer|cures?diabetes)"
)
GUARANTEED = re.compile(
    r"(无效(?:全额|包)?退|不见效(?:全额)?退|不(?:瘦|白|长高|见效)(?:全额)?退|"
    r"不(?:瘦|白|长高|见效)不要钱|保证(?:有效|见效|效果|掉秤|瘦|美白|变白|长高|治好)|"
    r"包(?:有效|见效|瘦|美白|长高)|(?:立即|立刻|马上|当天|当场|一次|快速|秒|即刻)见效|"
    r"立竿见影|一(?:抹|擦|喷|贴|用|喝|吃)就(?:白|瘦|好|通|不疼)|"
    rf"[{_NUM}]+(?:天|日|周|个月|月)内?(?:瘦|长高|祛|美白|变白|减肥|减重|生发)|"
    r"(?:皱纹|斑|痘|黑头|疤)(?:全消|全无|全部消失|消失)|躺着(?:就|也)?(?:能)?瘦|"
    r"不节食不运动|不打针不吃药|"
    rf"[{_NUM}]+(?:天|日|周|个月|月|次|分钟|秒)(?:内|就)?(?:见效|起效|显效)|"
    rf"[{_NUM}]+(?:秒|分钟)(?:入睡|睡着)|秒(?:入睡|睡着)|长高[0-9]+(?:cm|厘米|公分)|就能长高|"
    r"逆转(?:年龄|衰老|岁月)|逆龄|回到[0-9一二三四五六七八九十]+岁|保证(?:通过|考过|过关|上岸|拿证)|"
    r"保过|考不过.{0,2}退|不过全额退|算我输|guaranteed(?:results|towork))"
)
_AUTHORITY = (
    r"(?:领导人|央视|cctv|中南海|大会堂|国宴|国务院|政府|军队|部队|卫健委|卫生部|药监局|"
    r"医院|专家|医生|院士|教授|国家机关|机关单位|部委)"
)
ENDORSEMENT = re.compile(
    rf"({_AUTHORITY}.{{0,4}}?(?:推荐|指定|特供|专供|认证|御用|同款|背书|监制|专用|上榜|合作|展播)|特供)"
)
_RULES = (
    ("absolute_claim", ABSOLUTE),
    ("medical_claim", MEDICAL),
    ("guaranteed_effect", GUARANTEED),
    ("endorsement_claim", ENDORSEMENT),
)
# Ordinary phrases that contain the same characters.
BENIGN = re.compile(
    r"(第一次|第一天|第一批|第一步|第一眼|第一件|第一个|第一款|最佳赏味期|最好在|最好是|"
    r"最好不要|唯一的?(?:缺点|不足|遗憾|担心|问题|毛病|区别|要求)|绝对值|永久地址|永久会员|治愈系|永不(?:言弃|放弃|言败|止步|妥协)|"
    r"(?:国家|世界|省|市)级(?:非遗|非物质文化遗产|传承人|自然保护区|保护区|风景名胜区|"
    r"森林公园|地质公园|湿地公园|文物保护单位|重点文物|高新技术企业|专精特新|重点实验室|"
    r"龙头企业|贫困县|示范(?:区|基地|县|单位|园区))|"
    rf"最低[{_NUM}]+(?:件|个|份|盒|箱|瓶|袋|斤|单)起?|最低[{_NUM}.]+折|"
    r"(?:不是|不敢说|不敢讲|不能说|不好说|算不上|谈不上|称不上|不一定|未必|并非|不算)是?"
    r"(?:全网|全国|行业|市面上?)?(?:最|第一|唯一|顶级)|"
    r"百分百(?=纯|棉|羊毛|羊绒|真丝|桑蚕丝|蚕丝|实木|牛皮|纯铜|足金|足银)|"
    # A lottery's or a queue's rank, a count, a technical limit, product names, the shop's
    # own bestseller, special-effects make-up.
    r"(?:抽奖|中奖|抽中|抽到|排队)的?第一名?|第一名的?(?:宝|家人|朋友|粉丝|买家|顾客|下单)|"
    r"(?:只有|仅有|仅此|就这)唯一|唯一(?:一个|一款|一种|一件)?的?(?:颜色|色|尺码|码|款式|库存|现货)|"
    r"最(?:低|高|大|小|长|远|多)(?:温度|气温|可达|承重|载重|功率|速度|耐温|支持|可伸到|可|到|能)?"
    rf"[{_NUM}.]+(?:c|度|米|m|kg|公斤|w|瓦|小时|h|分钟|mah|cm|db|人)|"
    r"万能(?:胶|表|扳手|轮|遥控器?|插座|转换头?|接头|螺丝刀|工具箱?|角色)|"
    r"(?:店里|本店|店铺里?|我家|直播间里?|我们家|咱家)(?:(?!全网|全国|全球|世界|行业)[^|]){0,4}?"
    r"最(?:好|畅销|受欢迎|火)|特效(?:妆|化妆|服装|道具|视频|镜头|片|贴纸|师)|永久(?:牌|自行车))"
)
# The text just before a claim that denies it (不能治病, 不保证效果, 本品不具有).
NEGATED = re.compile(r"(?:不|没|无|非|并非|不能|不可|不具有|不具备|无法)(?:能|可|会|是|用于)?$")
# Claims written in pinyin, and homophones of 最 / 第 before what they qualify.
PINYIN = {
    "zui hao": "最好",
    "zui jia": "最佳",
    "zui qiang": "最强",
    "zui di": "最低",
    "zui you": "最优",
    "zui pian yi": "最便宜",
    "di yi": "第一",
    "jue wu jin you": "绝无仅有",
    "shi wu qian li": "史无前例",
    "du yi wu er": "独一无二",
    "wan neng": "万能",
    "yong bu": "永不",
    "yong jiu": "永久",
    "bai fen bai": "百分百",
    "gen zhi": "根治",
    "ding ji": "顶级",
    "wei yi": "唯一",
    "du jia": "独家",
    "shou xuan": "首选",
    "jue dui": "绝对",
    "ji pin": "极品",
    "te xiao": "特效",
    "guo jia ji": "国家级",
    "shi jie ji": "世界级",
}
_PINYIN = Pinyin.of(PINYIN)
# One syllable of pinyin inside Chinese (zui低, di一, jiang血压, zhi疗, 领xian, 防ai).
SYLLABLE = {
    "zui": "最",
    "di": "第",
    "jiang": "降",
    "zhi": "治",
    "xian": "先",
    "jue": "绝",
    "yong": "永",
    "wan": "万",
    "ji": "极",
    "ding": "顶",
    "wei": "唯",
    "bao": "保",
    "kang": "抗",
    "fang": "防",
}
_WORD = "|".join(SYLLABLE)
_SYLLABLE = re.compile(
    rf"(?<=[\u4e00-\u9fff])(?:{_WORD})(?![a-z])|(?<![a-z])(?:{_WORD})(?=[\u4e00-\u9fff])|"
    r"(?<=[防抗治])ai(?![a-z])"
)
# Homophones and look-alikes of 最 / 第一 / 独一无二 / 永久 / 一.
_HOMOPHONES = re.compile(
    r"醉(?=佳|好|强|优|低|便宜|畅销|有效|正宗|划算|实惠)|[蕞冣朂]|[弟第][1壹](?!\d)|弟一|"
    r"独[一1壹]无[二2贰]|永[九玖](?![0-9十百千万])|壹"
)


def detect_false_advertising(text: str) -> Finding | None:
    """The first claim in the text, once benign phrases are set aside."""
    claims = claim_text(text)
    for name, pattern in _RULES:
        for match in pattern.finditer(claims):
            if name == "absolute_claim" or not NEGATED.search(claims[: match.start()]):
                return Finding(f"{RULE_VERSION}:{name}", match.group())
    return None


def claim_text(text: str) -> str:
    """The text as the claim rules read it: pinyin and homophones as the characters they
    stand for, separators dropped (:func:`squeeze`), benign phrases replaced by ``|``."""
    read = _PINYIN.replace(fold(text))
    if _LATIN.search(read):
        read = _SYLLABLE.sub(lambda m: SYLLABLE.get(m.group(), "癌"), read)
    read = _HOMOPHONES.sub(_homophone, squeezed_of(read))
    return BENIGN.sub("|", read)


def _homophone(match: re.Match[str]) -> str:
    found = match.group()
    if found[0] in "第弟独永":
        return {"第": "第一", "弟": "第一", "独": "独一无二", "永": "永久"}[found[0]]
    return _HOMOPHONE[found]


_HOMOPHONE = {"醉": "最", "蕞": "最", "冣": "最", "朂": "最", "壹": "一"}
_LATIN = re.compile(r"[a-z]")
