"""The bureau's default keyword map: category, then handling department."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.routing.domain.categories import (
    DEFAULT_DEPARTMENT,
    DEFAULT_KEYWORDS,
    DEPARTMENT_LABELS,
    Category,
    KeywordClassifier,
)

CLASSIFIER = KeywordClassifier()
REGION = Path(__file__).resolve().parents[3] / "deploy" / "region.example.yaml"

C = Category
CASES = [
    ("医生误诊，把阑尾炎当成胃炎，延误了治疗。", C.MEDICAL_QUALITY),
    ("手术后出现严重并发症，医生事前没有说明风险。", C.MEDICAL_QUALITY),
    ("我母亲的病历被人改过，怀疑医疗事故。", C.MEDICAL_QUALITY),
    ("检查结果出来三天了没人解释病情。", C.MEDICAL_QUALITY),
    ("孩子发烧四天，医生漏诊了肺炎。", C.MEDICAL_QUALITY),
    ("会诊拖了一周，耽误了病人。", C.MEDICAL_QUALITY),
    ("护士扎针扎了五次都没扎进去。", C.NURSING),
    ("夜里按呼叫铃半小时没人来。", C.NURSING),
    ("换药不及时，纱布都湿透了。", C.NURSING),
    ("护工不给老人翻身，长了褥疮。", C.NURSING),
    ("留置针脱落了也没人管。", C.NURSING),
    ("出院结算时发现重复收费。", C.FEES),
    ("同一项检查收了两次检查费。", C.FEES),
    ("住院费清单看不懂，怀疑乱收费。", C.FEES),
    ("药费比外面药店贵一倍。", C.FEES),
    ("缴费后不给开发票。", C.FEES),
    ("医生要红包才给安排床位。", C.CONDUCT),
    ("挂号窗口的人态度恶劣，还辱骂患者。", C.CONDUCT),
    ("医生态度冷漠，问两句就不耐烦。", C.CONDUCT),
    ("护士态度很凶，说话难听。", C.CONDUCT),
    ("科室之间互相推诿，没人负责。", C.CONDUCT),
    ("医生收回扣，只开贵的进口药。", C.CONDUCT),
    ("病房卫生间太脏，一股味道。", C.LOGISTICS),
    ("医院停车太难，排了一个小时进不去。", C.LOGISTICS),
    ("住院部电梯经常坏，老人只能爬楼。", C.LOGISTICS),
    ("食堂饭菜有头发。", C.LOGISTICS),
    ("病房空调不制冷，夜里热得睡不着。", C.LOGISTICS),
    ("医保卡刷不了，只能全自费。", C.MEDICAL_INSURANCE),
    ("异地就医备案了还是不能直接报销。", C.MEDICAL_INSURANCE),
    ("医保报销比例算错了。", C.MEDICAL_INSURANCE),
    ("药房发错药，药品与处方不符。", C.DRUGS),
    ("取药等了一个半小时，药房只开一个窗口。", C.DRUGS),
    ("给我配药时拿了过期药。", C.DRUGS),
    ("医院缺药，让我去外面买。", C.DRUGS),
    ("手术后伤口感染，怀疑消毒不规范。", C.INFECTION_CONTROL),
    ("病房里交叉感染，同屋三个人都发烧。", C.INFECTION_CONTROL),
    ("院感管理混乱，器械不无菌。", C.INFECTION_CONTROL),
    ("CT仪器故障，检查做了一半停了。", C.EQUIPMENT),
    ("设备太旧，B超机器坏了一周没修。", C.EQUIPMENT),
    ("住院期间手机被盗，保安不管。", C.SECURITY),
    ("急诊室有人打架，没人制止，很不安全。", C.SECURITY),
    ("挂号要排队两个小时。", C.OUTPATIENT),
    ("网上预约了号，到了还要重新排队候诊。", C.OUTPATIENT),
    ("门诊叫号系统乱，过号了也不叫。", C.OUTPATIENT),
    ("自助机不能用，只能人工挂号。", C.OUTPATIENT),
    ("抢救不及时，家属在门外等了四十分钟没人出来说明情况。", C.MEDICAL_QUALITY),
    ("夜班没人巡视，老人摔下床到早上才发现。", C.NURSING),
    ("护士长对家属提出的问题置之不理。", C.NURSING),
    ("出院后发现床位费按单间收的，实际住的是三人间。", C.FEES),
    ("申请退款一个月了还没到账。", C.FEES),
    ("医生索要好处费，否则不给安排手术。", C.CONDUCT),
    ("陪护床又窄又硬，被子也是脏的。", C.LOGISTICS),
    ("病房卫生间漏水，地上全是水。", C.LOGISTICS),
    ("门诊统筹额度用完了，窗口说不能报。", C.MEDICAL_INSURANCE),
    ("吃了医院开的药出现严重不良反应。", C.DRUGS),
    ("医生换病人不做手卫生，担心院内感染。", C.INFECTION_CONTROL),
    ("住院部监控坏了，电动车被偷了没人管。", C.SECURITY),
    ("导诊台没有人，不知道该去哪个诊室。", C.OUTPATIENT),
    ("在医院门口被人威胁，保安看见了也不管。", C.SECURITY),
    ("我想表扬一下王医生。", C.OTHER),
    ("请问周末有没有专家出诊？", C.OTHER),
    ("", C.OTHER),
]


@pytest.mark.parametrize(("text", "category"), CASES)
def test_default_map(text: str, category: Category) -> None:
    assert CLASSIFIER.classify(text).primary is category


def test_there_are_enough_realistic_cases() -> None:
    assert len(CASES) >= 40
    assert {category for _, category in CASES} == set(Category)


def test_longer_keyword_wins_an_overlap() -> None:
    fees = CLASSIFIER.classify("药费太贵")
    assert fees.primary is Category.FEES
    assert fees.matches[0].keywords == ("药费",)
    conduct = CLASSIFIER.classify("护士态度差")
    assert conduct.primary is Category.CONDUCT
    assert {m.category for m in conduct.matches} == {Category.CONDUCT, Category.NURSING}


def test_more_evidence_wins_a_tie() -> None:
    result = CLASSIFIER.classify("护士输液时态度不好，呼叫铃也没人应")
    assert result.primary is Category.NURSING  # 护士, 输液, 呼叫铃 against 态度


def test_matches_report_every_keyword_once_best_first() -> None:
    result = CLASSIFIER.classify("重复收费，又重复收费，医保也没报销")
    assert result.matches[0].category is Category.FEES
    assert result.matches[0].keywords.count("重复收费") == 1
    assert [m.score for m in result.matches] == sorted(
        (m.score for m in result.matches), reverse=True
    )


@pytest.mark.parametrize(
    ("text", "category", "keyword"),
    [
        ("陪护床太硬", Category.LOGISTICS, "陪护床"),  # not nursing's 陪护
        ("医疗安全隐患", Category.MEDICAL_QUALITY, "医疗安全"),  # not security's 安全
        ("门诊统筹用不了", Category.MEDICAL_INSURANCE, "门诊统筹"),  # not outpatient's 门诊
        ("伤口感染化脓", Category.INFECTION_CONTROL, "伤口感染"),
        ("检查费收了两次", Category.FEES, "检查费"),
        ("设备故障没人修", Category.EQUIPMENT, "设备故障"),
        ("医生态度冷淡", Category.CONDUCT, "医生态度"),
    ],
)
def test_the_longer_overlapping_keyword_decides(
    text: str, category: Category, keyword: str
) -> None:
    result = CLASSIFIER.classify(text)
    assert result.primary is category
    assert keyword in result.matches[0].keywords
    assert result.matches[0].score == len(keyword)


def test_full_width_and_case_are_normalised() -> None:
    assert CLASSIFIER.classify("ＣＴ检查费收了两次").primary is Category.FEES
    assert CLASSIFIER.classify("护士态度差！！").primary is Category.CONDUCT
    custom = KeywordClassifier({Category.EQUIPMENT: ("CT机",)})
    assert custom.classify("ct机坏了").primary is Category.EQUIPMENT
    full_width = custom.classify("ＣＴ机坏了")
    assert full_width.primary is Category.EQUIPMENT
    assert full_width.matches[0].keywords == ("CT机",)  # reported as the map spells it
    assert KeywordClassifier({Category.EQUIPMENT: ("ＣＴ机",)}).classify("CT机").primary is (
        Category.EQUIPMENT
    )


def test_whitespace_only_or_unmatched_text_is_other() -> None:
    for text in ("", "   ", "\n", "谢谢", "12345"):
        result = CLASSIFIER.classify(text)
        assert result.primary is Category.OTHER
        assert result.matches == ()


def test_a_hospital_override_may_use_plain_codes_and_lists() -> None:
    custom = KeywordClassifier({"fees": ["收费", "多收钱"], "nursing": ["护士"]})
    assert custom.classify("护士说多收钱是系统问题").primary is Category.FEES
    assert custom.classify("医保").primary is Category.OTHER


def test_a_long_text_is_classified_in_one_pass() -> None:
    text = "医院环境不错，" * 20_000 + "但是药房发错药了。"
    result = CLASSIFIER.classify(text)
    assert result.primary is Category.DRUGS  # 发错药 (3) beats 20 000 hits of 环境 (2)
    assert result.matches[1].category is Category.LOGISTICS
    assert result.matches[1].keywords == ("环境",)


def test_a_keyword_may_belong_to_one_category_only() -> None:
    with pytest.raises(ValueError, match=r"two categories \(fees, drugs\)"):
        KeywordClassifier({Category.FEES: ("药费",), Category.DRUGS: ("药费",)})
    with pytest.raises(ValueError, match="two categories"):  # equal once normalised
        KeywordClassifier({Category.EQUIPMENT: ("CT",), Category.FEES: ("ｃｔ",)})
    with pytest.raises(ValueError):
        KeywordClassifier({"not_a_category": ("x",)})
    with pytest.raises(ValueError, match="empty"):
        KeywordClassifier({Category.FEES: ("",)})


def test_every_category_has_a_label_keywords_and_a_department() -> None:
    assert all(category.label for category in Category)
    assert set(DEFAULT_DEPARTMENT) == set(Category)
    assert set(DEFAULT_KEYWORDS) == set(Category) - {Category.OTHER}
    assert all(DEPARTMENT_LABELS[d] for d in DEFAULT_DEPARTMENT.values())
    assert all(DEFAULT_KEYWORDS[c] for c in DEFAULT_KEYWORDS)


def test_the_default_map_has_no_keyword_twice() -> None:
    words = [w for keywords in DEFAULT_KEYWORDS.values() for w in keywords]
    assert len(words) == len(set(words))
    KeywordClassifier()  # would raise on a keyword shared by two categories


def test_every_default_department_exists_in_the_demo_hospitals() -> None:
    region = yaml.safe_load(REGION.read_text(encoding="utf-8"))
    assert region["hospitals"]
    for hospital in region["hospitals"]:
        names = {d["code"]: d["name"] for d in hospital["departments"]}
        for code in DEFAULT_DEPARTMENT.values():
            assert names.get(code) == DEPARTMENT_LABELS[code], (hospital["id"], code)
