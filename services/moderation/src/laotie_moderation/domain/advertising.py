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
import unicodedata

from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.normalize import Pinyin, fold, squeezed_of

RULE_VERSION = "false_advertising@6"

_NUM = "0-9一二两三四五六七八九十半"
ABSOLUTE = re.compile(
    r"(最(?:佳|好|强|优|高级|顶级|低价|低|畅销|便宜|先进|安全|有效|健康|正宗|受欢迎|划算|实惠|"
    r"专业|权威|耐用|舒服|保暖|纯正|纯|新鲜|热销|热卖|靠谱|牛)|全网最低|史上最|"
    # a superlative scoped to more than the shop: the universe, the platform, the trade
    r"(?:宇宙|地表|地球|亚洲|全平台|全快手|全抖音|业界|全行业|市面上?)的?(?:第一|最|no1|顶级|冠军|唯一|天花板|top1)|"
    r"(?:全网|全国|全球|世界|行业)top\d|独一份|独一家|吊打|(?:世界|国际|全球|行业|国内)[一1]流|"
    r"(?<![a-z])top1(?![0-9])|找不[出到]比|天花板级|(?:国货|平价|学生党|性价比|颜值|口碑|品质)[\u4e00-\u9fff]{0,3}天花板|"
    r"没有之一|找不到第二[家个款件]|别无二家|独此一家|神效|奇效|神药|第一(?:好|美|香|甜|强|棒|牛)|"
    # kings and the invincible, rivals run down (Advertising Law art. 13)
    r"之王|王者级|无敌(?!侠|浩克|风火轮)|同行(?:全跪|跪了|都哭了|哭了)|"
    r"(?:其他|别的|别家|其它)(?:牌子|品牌|家|店)?(?:的)?(?:都|全)?(?:是)?(?:垃圾|假货|智商税)|"
    r"第一品牌|销量第一|全国第一|全球第一|世界第一|"
    r"行业第一|排名第一|全网第一|同类第一|品类第一|no1|numberone|第一名|国家级|世界级|全球级|"
    r"宇宙级|顶级|极品|极佳|独家|唯一|首选|万能|绝对|100.{0,3}有效|百分百有效|百分之百有效|"
    r"百分百|永久|永不|根治|治愈|药到病除|无.{0,2}副作用|零风险|包治|特效|秒杀全网|"
    r"史无前例|绝无仅有|前所未有|独一无二|无与伦比|举世无双|空前绝后|(?:全球|全国|世界|国内|行业)首创|"
    r"100%?(?:去除|除|杀灭|杀菌|祛除|清除)|"
    r"(?:销量|销售|行业|全网|全国)冠军|销冠|极致|天花板级|(?:界|圈|中|里)的?天花板|"
    r"天花板(?:之作|存在|水平|品质)|(?:吊打|碾压)(?:全网|同行|一切|所有|大牌|同价位|同级|同类)|"
    r"秒杀(?:一切|所有|同行|同级|同价位|同类)|(?:没有|没|无|找不到)(?:任何)?对手|无人能(?:及|敌|比)|"
    r"遥遥领先|(?:世界|国际|全球|行业|国内)领先|领先(?:世界|全球|国际|全行业)|"
    r"thebest(?!before)|bestin(?:the)?world|worlds?best|number1(?!\d)|100(?:works|effective)|"
    r"nosideeffects?|miracle)"
)
_DISEASE = (
    r"(?:[^，。]{0,3}?(?:病|炎|癌|瘤|症|疮|痔|增生|结节|囊肿|息肉|结石|溃疡|斑|痘)|三高|高血压|血压|血糖|血脂|尿酸|失眠|脱发|"
    r"便秘|痛风|湿疹|脚气|灰指甲|近视|颈椎|腰椎|前列腺|风湿|关节痛|"
    r"贫血|哮喘|咳嗽|感冒|发烧|过敏|老花眼?|白内障|青光眼|秃顶|老寒腿|痛经|宫寒)"
)
MEDICAL = re.compile(
    rf"((?:治|治疗|医治|根除|调理|降|抗|消|缓解|改善|防治){_DISEASE}|防癌|降压|降糖|降脂|"
    r"不用再?吃.{0,3}药|告别吃药|摆脱药物|可以停药|"
    r"(?:提高|提升|增强|增加)(?:智力|智商|免疫力?|抵抗力|记忆力)|抗衰老?|抗老化|延年益寿|"
    r"长生不老|返老还童|(?:预防|防)(?:流感|感冒|老年痴呆|中风)|调(?:节|理)(?:内分泌|血压|血糖|血脂|免疫)|"
    r"改善(?:前列腺|内分泌)|壮阳|curescancer|cures?diabetes|止咳|化痰|止痛|止血(?!钳|带|贴)|退烧|退热|止泻|"
    # a body function restored, medical grade, viruses killed, sugar controlled
    r"恢复(?:视力|听力|记忆力?|性功能)|摘掉?眼镜|摘镜|告别(?:老花眼?|近视|眼镜|失眠|脱发|白发)|"
    r"(?:消除|修复|根除|去除)(?:妊娠纹|激素脸|疤痕|红血丝)|矫正[^|]{0,3}(?:腿|驼背|脊柱|近视|视力)|(?:喝|吃)出(?:好)?(?:血管|肠道|肠胃|肝|肾|免疫力)|"
    r"医美级|医学级|医用级|药用级|修复(?:受损)?的?(?:细胞|视网膜|神经|血管|肝|胃)|比打针还|"
    r"杀(?:灭|死)?[^，。|]{0,4}病毒|抗病毒|(?:不|再也不|告别)感冒|糖友(?:放心|可以|也能|随便)|控糖|稳糖|"
    # a disease's nemesis, hair regrown, cleverer babies, fat scraped, spots lightened
    rf"{_DISEASE}克星|生发|防脱发?|溶脂|燃脂|抹哪瘦哪|白发(?:转|变)黑|见黑|(?:宝宝|孩子|小孩).{{0,3}}(?:更|变)聪明|刮油|排毒|祛斑|淡斑|消炎|药用)"
)
GUARANTEED = re.compile(
    r"(无效(?:全额|包)?退|不见效(?:全额)?退|不(?:瘦|白|长高|见效)(?:全额)?退|"
    r"不(?:瘦|白|长高|见效)不要钱|保证(?:有效|见效|效果|掉秤|瘦|美白|变白|长高|治好)|"
    r"包(?:有效|见效|瘦|美白|长高)|(?:立即|立刻|马上|当天|当场|一次|快速|秒|即刻)见效|"
    r"立竿见影|一(?:抹|擦|喷|贴|用|喝|吃)就(?:白|瘦|好|通|不疼|消|没了|退)|"
    rf"[{_NUM}]+(?:天|日|周|个月|月)内?(?:瘦|长高|祛|美白|变白|减肥|减重|生发)|"
    r"(?:皱纹|斑|痘|黑头|疤)(?:全消|全无|全部消失|消失)|躺着(?:就|也)?(?:能)?瘦|"
    r"不节食不运动|不打针不吃药|"
    rf"[{_NUM}]+(?:天|日|周|个月|月|次|分钟|秒)(?:内|就)?(?:见效|起效|显效)|"
    rf"[{_NUM}]+(?:秒|分钟)(?:入睡|睡着)|秒(?:入睡|睡着)|长高[0-9]+(?:cm|厘米|公分)|就能长高|"
    r"逆转(?:年龄|衰老|岁月)|逆龄|回到[0-9一二三四五六七八九十]+岁|保证(?:通过|考过|过关|上岸|拿证)|"
    r"保过|考不过.{0,2}退|增高[0-9]+|不过全额退|算我输|guaranteed(?:results|towork)|"
    # cured in so many days, one tube one cure, a 100% pass, fluent or your money back
    rf"(?:喝|吃|用|贴|抹|涂|泡|擦)[{_NUM}]+(?:天|次|周|个月|贴|盒|瓶|支)就?"
    r"(?:好|见效|消|退|没了|痊愈|降下来|降了)|用一[支瓶盒贴次]好一[支瓶盒贴次]|"
    r"(?:上岸|通过|过关|录取|及格)率(?:达|高达)?100|押题必中|必过|稳过|稳上岸|"
    r"不(?:流利|好转|改善|通过|上岸|提分|涨分|见效|有效|管用)(?:全额)?就?退|"
    # weight lost by the pound, passes, profits and jobs guaranteed
    rf"(?:瘦|掉秤|减)[{_NUM}]+(?:斤|公斤|kg|磅)|包过|不过退费?|没过退|稳赚|包赚|保本|"
    # a body measure guaranteed (保证血糖正常, 包你血压稳定)
    r"(?:保证|包)你?的?(?:血糖|血压|血脂|尿酸|视力|睡眠)|亩产翻倍|产量翻倍|保证结果|保证(?:平|瘦|白|直)|"
    rf"保证[{_NUM}]*(?:天|周|个月)?(?:去|祛|消|淡|美白|变白|瘦|长高)|"
    r"包就业|保就业|包分配|月入过万|保证不(?:掉发|掉头发|复发|反弹|长痘|过敏)|"
    r"必(?:瘦|白|长高|过)|不瘦找我|保证.{0,4}(?:提分|涨分|考上|录取|上岸)|"
    r"保证(?:亩产|产量|收益|回本)|不达标(?:赔|退)|(?:白|瘦|好|长高)不了.{0,2}退|"
    r"一(?:杯|瓶|颗|片|包)就(?:好|见效|不疼)|"
    r"(?:贴上|喝了|用了|吃了|抹上|涂上|戴上)就(?:好|通|通气|不疼|见效|瘦|白)|"
    rf"[{_NUM}]+(?:天|周|个月)(?:张口|开口)?(?:流利|精通|学会|说流利))"
)
_AUTHORITY = (
    r"(?:领导人|央视|cctv|中南海|大会堂|国宴|国务院|政府|军队|部队|卫健委|卫生部|药监局|"
    r"医院|专家|医生|牙医|营养师|院士|教授|国家机关|机关单位|部委|人民日报|新华社|中科院|科学院|"
    r"航天员|宇航员|航天|"
    r"国家(?=推荐|指定|领导))"
)
ENDORSEMENT = re.compile(
    rf"({_AUTHORITY}.{{0,4}}?(?:推荐|指定|特供|专供|认证|御用|同款|背书|监制|专用|上榜|合作|展播|"
    r"点赞|力荐|研发|在用)|特供|"
    # the state's inspection exemption, abolished in 2008 (免检产品)
    r"(?:国家|质检总局|质监局?)?免检(?:产品|商品)?)"
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
    r"(?:不是|不敢说|不敢讲|不能说|不好说|算不上|谈不上|称不上|不一定|未必|并非|不算|不说|不吹|不讲|不标)是?"
    r"(?:全网|全国|行业|市面上?)?(?:最|第一|唯一|顶级)|"
    r"百分百(?=纯|棉|羊毛|羊绒|真丝|桑蚕丝|蚕丝|实木|牛皮|纯铜|足金|足银)|"
    # A lottery's or a queue's rank, a count, a technical limit, product names, the shop's
    # own bestseller, special-effects make-up.
    r"(?:抽奖|中奖|抽中|抽到|排队)的?第一名?|第一名的?(?:宝|家人|朋友|粉丝|买家|顾客|下单)|"
    r"(?:只有|仅有|仅此|就这)唯一|唯一(?:一个|一款|一种|一件)?的?(?:颜色|色|尺码|码|款式|库存|现货)|"
    r"最(?:低|高|大|小|长|远|多)[\u4e00-\u9fff]{0,6}?"
    rf"[{_NUM}.]+(?:c|度|米|m|kg|公斤|w|瓦|小时|h|分钟|mah|cm|db|人)|"
    r"万能(?:胶|表|扳手|轮|遥控器?|插座|转换头?|接头|螺丝刀|工具箱?|角色)|"
    r"(?:店里|本店|店铺里?|我家|直播间里?|我们家|咱家|本场|这场|今天|今晚|今年|本月|本周|本期|"
    r"这个月|这周|这个星期|主播|本季|这季|这一季|店内)"
    r"(?:(?!全网|全国|全球|世界|行业|史上)[^|]){0,6}?"
    r"(?:最(?:好|畅销|受欢迎|火|低价?|大力度|多|便宜|划算|实惠)|销量第一|第一|唯一|top1|冠军)|"
    r"极品飞车|(?<!史上)(?<!全网)最低价?(?:就是|是|在)?(?:今晚|今天|本场|这场|这个月)|"
    r"唯一一(?:件|个|只|双|台|套)|唯一(?:要|需要)?(?:注意|提醒|不好|美中不足)|"
    r"最好(?=提前|先|别|早|尽快|当天|冷藏|放|选|用完|今天|现在|马上|在|不要|"
    r"用(?:温水|冷水|热水|清水|凉水|开水|中性|软布|手|[0-9一二三四五六七八九十])|"
    r"[0-9一二三]+(?:个月|天|周|小时|分钟|度)|平铺|晾|挂|避光|密封|搭配|配合|分开|单独|擦|吹干)|"
    r"(?:前|后|时|的时候)最好(?!的)|"
    # how to use or keep it (手洗最好, 冷藏最好), not a claim about it (用最好的料)
    r"(?:手洗|机洗|干洗|洗|晾|晒|阴干|存放|保存|冷藏|冷冻|喝|吃|泡|煮|蒸|炖|戴|穿)最好(?!的)|最好的(?:闺蜜|朋友|兄弟|姐妹|哥们|礼物给)|"
    r"(?:色号|型号|款号|编号)no1|no1(?=色|号|款|是)|第一名(?:抢到|下单|拍到|付款)|恭喜第一|"
    r"(?:编号|序列号|编码|二维码|防伪码|溯源码|证书号?)唯一|"
    r"唯一(?:编号|序列号|编码|码|标识|识别码|防伪码|溯源码)|特效(?:妆|化妆|服装|道具|视频|镜头|片|贴纸|师)|永久(?:牌|自行车)|绝对伏特加|absolut(?:vodka)?)|"
    # a question asked (这个能降血压吗, 孕妇能用吗): a buyer's question claims nothing
    # (the claim sits between 能 and 吗; 想降血压吗 and 能根治吗？能！ stay claims)
    r"(?:(?<![想还])(?:能|可以|会|真的能|是不是|能不能)|^是)[^|]{0,10}?(?:吗|么)"
    r"(?!能|会|可以|当然|必须|肯定|绝对|没问题|放心)"
)
# The text just before a claim that denies it (不能治病, 不保证效果, 本品不具有).
NEGATED = re.compile(
    r"(?:(?:不|没|无|非|并非|不能|不可|不具有|不具备|无法)(?:能|可|会|是|用于|代替|替代|取代)?|"
    r"(?:没有|没|并无)(?:什么|任何)|"
    r"(?:不能|不可|无法)(?:代替|替代|取代)(?:药物|药品|药)|"
    # a claim disowned or reported to be denied (我们不说能治病, 别听别人说能降血糖)
    r"(?:不|没|别|从不|从来不)(?:说|讲|吹|敢说|承诺|宣传)(?:过)?(?:能|可以|会)?|"
    r"别(?:听|信)[^，。|]{0,6}?说的?(?:能|可以|会)?)$"
)
# A registered health food (保健食品) stating its approved function, with its approval
# number and the mandatory disclaimer: the function claim is not read as a medical one.
REGISTERED_HEALTH_FOOD = re.compile(r"(?:国食健注|国食健字|卫食健字|食健备)[a-z]?\d{4,}")
HEALTH_FOOD_DISCLAIMER = re.compile(r"不能(?:代替|替代)药物|功能以批准为准|以批准(?:的|文件)?为准")
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
    "zhi liao": "治疗",
    "jiang ya": "降压",
    "jiang tang": "降糖",
    "kang ai": "抗癌",
    "shen xiao": "神效",
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
    "liao": "疗",
    "shen": "神",
    "tang": "糖",
    "ya": "压",
    "xue": "血",
    "pin": "品",
    "ban": "斑",
    "hua": "花",
}
_WORD = "|".join(SYLLABLE)
_SYLLABLE = re.compile(
    rf"(?<=[\u4e00-\u9fff])(?:{_WORD})(?![a-z])|(?<![a-z])(?:{_WORD})(?=[\u4e00-\u9fff])|"
    r"(?<=[防抗治])ai(?![a-z])"
)
# Homophones and look-alikes of 最 / 第一 / 独一无二 / 永久 / 一.
_HOMOPHONES = re.compile(
    r"醉(?=佳|好|强|优|低|便宜|畅销|有效|正宗|划算|实惠)|[蕞冣朂]|[弟第][1壹](?!\d)|弟一|"
    r"独[一1壹]无[二2贰]|永[九玖](?![0-9十百千万])|壹|[嘬罪](?=佳|好|强|优|低|便宜|畅销|有效|正宗|纯|新鲜)|"
    r"醉(?=纯|新鲜|热销|靠谱)|丁页|木及|纟色|顶g(?![a-z])"
)


# The title of a film, a book, a song or a game (电影《最好的我们》): a name, not a claim.
_WORK = (
    r"(?:电影|书|小说|歌曲?|唱一?首?|一首|电视剧|剧|游戏|桌游|专辑|漫画|动漫|动画|绘本|综艺|"
    r"纪录片|节目)"
)
_WORK_AFTER = (
    r"(?:周边|海报|原著|同款|主题曲|原声|书|碟|dvd|小说|绘本|画册|手办|电影票|门票|儿童版|"
    r"典藏版|第.季)"
)
WORK_TITLE = re.compile(
    rf"{_WORK}《[^》]{{1,24}}》|《[^》]{{1,24}}》(?=[^，。]{{0,4}}{_WORK_AFTER})"
)
# A trigger word said to be a brand's name, or 永久 among bicycle makers: a name, not a claim.
BRAND_NAMED = re.compile(r"品牌名|品牌叫|牌子叫|是个?(?:品牌|牌子)|商标|自行车|单车|凤凰|飞鸽")
NAME_WORDS = frozenset({"永久", "numberone", "no1", "number1", "极品", "王者级", "之王"})


def detect_false_advertising(text: str) -> Finding | None:
    """The first claim in the text, once benign phrases are set aside."""
    claims = claim_text(text)
    registered = bool(REGISTERED_HEALTH_FOOD.search(claims)) and bool(
        HEALTH_FOOD_DISCLAIMER.search(claims)
    )
    for name, pattern in _RULES:
        if registered and name == "medical_claim":
            continue
        negated_to = -1  # a negation reaches the claims that follow it (不能防脱生发)
        for match in pattern.finditer(claims):
            if name == "absolute_claim" and _a_name(match.group(), claims):
                continue
            if name != "absolute_claim" and (
                match.start() == negated_to or NEGATED.search(claims[: match.start()])
            ):
                negated_to = match.end()
                continue
            return Finding(f"{RULE_VERSION}:{name}", match.group())
    return None


def _a_name(word: str, claims: str) -> bool:
    return word in NAME_WORDS and bool(BRAND_NAMED.search(claims))


def claim_text(text: str) -> str:
    """The text as the claim rules read it: pinyin and homophones as the characters they
    stand for, separators dropped (:func:`squeeze`), benign phrases replaced by ``|``."""
    read = _untoned(WORK_TITLE.sub("|", fold(text)))
    if _LATIN.search(read):
        read = _english(read)
    read = _PINYIN.replace(read)
    if _LATIN.search(read):
        read = _SYLLABLE.sub(lambda m: SYLLABLE.get(m.group(), "癌"), read)
    read = _HOMOPHONES.sub(_homophone, squeezed_of(read)).replace("最第", "最低")
    return BENIGN.sub("|", read)


# English claims read as the Chinese they make (cures → 治病, best … in the world → 世界第一).
ENGLISH = (
    (re.compile(r"\bbest\b[a-z ]{0,20}?\bin the world\b"), "世界第一"),
    (re.compile(r"\bcures?\b(?!\s*time)"), "治病"),
)
# Spaces between a latin syllable and a character, and between spelled-out letters
# (zui 好用 → zui好用, 降 t a n g → 降tang), so the syllables read as one word.
_SPACED = re.compile(
    r"(?<=[a-z])\s+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])\s+(?=[a-z])|"
    r"(?<=(?<![a-z])[a-z])\s(?=[a-z](?:\s[a-z])*(?![a-z]))"
)


def _untoned(folded: str) -> str:
    """Pinyin without its tone marks (jí → ji); characters are left as they are."""
    if not _TONED.search(folded):
        return folded
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))


_TONED = re.compile(r"[à-ǜ]")


def _english(folded: str) -> str:
    for pattern, hanzi in ENGLISH:
        folded = pattern.sub(hanzi, folded)
    return _SPACED.sub("", folded)


def _homophone(match: re.Match[str]) -> str:
    found = match.group()
    if found[0] in "第弟独永":
        return {"第": "第一", "弟": "第一", "独": "独一无二", "永": "永久"}[found[0]]
    return _HOMOPHONE[found]


_HOMOPHONE = {
    "醉": "最",
    "嘬": "最",
    "罪": "最",
    "蕞": "最",
    "冣": "最",
    "朂": "最",
    "壹": "一",
    # a character split into its parts (丁页 → 顶, 木及 → 极, 纟色 → 绝)
    "丁页": "顶",
    "木及": "极",
    "纟色": "绝",
    "顶g": "顶级",
}
_LATIN = re.compile(r"[a-z]")
