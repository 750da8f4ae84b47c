"""Complaint categories and the bureau's default keyword map (docs/rules.md#routing).

Each category has a default handling department (docs/rules.md#routing). A hospital may override
the keywords; this module ships the bureau's default. Matching rule: the longest matched
keyword wins, because longer keywords are more specific — "药费" (a drug *fee*) is a fees
complaint, not a pharmacy one, and "护士态度" is about conduct, not nursing technique.
Ties go to the category with more matched keywords, then to the order of `Category`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.contracts import LabelledEnum


class Category(LabelledEnum):
    MEDICAL_QUALITY = "medical_quality", "医疗质量"
    NURSING = "nursing", "护理"
    FEES = "fees", "收费物价"
    CONDUCT = "conduct", "行风与服务态度"
    LOGISTICS = "logistics", "后勤与环境"
    MEDICAL_INSURANCE = "medical_insurance", "医保"
    DRUGS = "drugs", "药品"
    INFECTION_CONTROL = "infection_control", "院感"
    EQUIPMENT = "equipment", "医疗器械设备"
    SECURITY = "security", "安全保卫"
    OUTPATIENT = "outpatient", "门诊流程"
    OTHER = "other", "其他"


DEFAULT_DEPARTMENT: dict[Category, str] = {
    Category.MEDICAL_QUALITY: "medical_affairs",
    Category.NURSING: "nursing",
    Category.FEES: "finance",
    Category.CONDUCT: "discipline",
    Category.LOGISTICS: "general_affairs",
    Category.MEDICAL_INSURANCE: "insurance_office",
    Category.DRUGS: "pharmacy",
    Category.INFECTION_CONTROL: "infection_control",
    Category.EQUIPMENT: "equipment",
    Category.SECURITY: "security",
    Category.OUTPATIENT: "outpatient_office",
    Category.OTHER: "complaint_office",
}

DEPARTMENT_LABELS: dict[str, str] = {
    "medical_affairs": "医务科",
    "nursing": "护理部",
    "finance": "财务科",
    "discipline": "纪检监察室",
    "general_affairs": "总务科",
    "insurance_office": "医保办",
    "pharmacy": "药剂科",
    "infection_control": "院感科",
    "equipment": "设备科",
    "security": "保卫科",
    "outpatient_office": "门诊部",
    "complaint_office": "投诉管理办公室",
}

DEFAULT_KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.MEDICAL_QUALITY: (
        "误诊",
        "漏诊",
        "医疗事故",
        "医疗质量",
        "医疗纠纷",
        "医疗安全",
        "医疗差错",
        "手术",
        "治疗",
        "诊断",
        "病情",
        "延误",
        "并发症",
        "后遗症",
        "检查结果",
        "病历",
        "会诊",
        "抢救",
        "过度医疗",
        "治疗效果",
    ),
    Category.NURSING: (
        "护士",
        "护理",
        "护士长",
        "输液",
        "打针",
        "扎针",
        "换药",
        "呼叫铃",
        "陪护",
        "护工",
        "留置针",
        "褥疮",
        "翻身",
        "巡视",
        "巡房",
    ),
    Category.FEES: (
        "收费",
        "多收",
        "乱收费",
        "重复收费",
        "多收费",
        "费用",
        "价格",
        "物价",
        "退费",
        "退款",
        "发票",
        "药费",
        "检查费",
        "住院费",
        "床位费",
        "结算",
        "缴费",
        "收费标准",
        "费用清单",
    ),
    Category.CONDUCT: (
        "态度",
        "服务态度",
        "态度恶劣",
        "态度差",
        "态度冷漠",
        "红包",
        "收红包",
        "回扣",
        "吃拿卡要",
        "索要",
        "好处费",
        "医德",
        "医德医风",
        "行风",
        "辱骂",
        "骂人",
        "推诿",
        "不耐烦",
        "护士态度",
        "医生态度",
        "冷漠",
        "刁难",
    ),
    Category.LOGISTICS: (
        "环境",
        "卫生间",
        "厕所",
        "停车",
        "停车场",
        "电梯",
        "食堂",
        "饭菜",
        "空调",
        "噪音",
        "脏",
        "开水",
        "热水",
        "被褥",
        "床单",
        "保洁",
        "垃圾",
        "漏水",
        "陪护床",
    ),
    Category.MEDICAL_INSURANCE: (
        "医保",
        "报销",
        "医疗保险",
        "异地就医",
        "医保卡",
        "新农合",
        "社保卡",
        "医保目录",
        "统筹",
        "门诊统筹",
    ),
    Category.DRUGS: (
        "药品",
        "发错药",
        "药房",
        "处方",
        "配药",
        "缺药",
        "过期药",
        "取药",
        "药物",
        "药剂",
        "不良反应",
    ),
    Category.INFECTION_CONTROL: (
        "感染",
        "院感",
        "消毒",
        "交叉感染",
        "伤口感染",
        "院内感染",
        "医院感染",
        "无菌",
        "手卫生",
        "隔离",
    ),
    Category.EQUIPMENT: (
        "设备",
        "器械",
        "仪器",
        "设备故障",
        "机器坏",
        "设备老化",
        "医疗器械",
    ),
    Category.SECURITY: (
        "安全",
        "保安",
        "被盗",
        "盗窃",
        "丢失",
        "偷",
        "小偷",
        "打架",
        "医闹",
        "伤医",
        "暴力",
        "消防",
        "监控",
        "威胁",
    ),
    Category.OUTPATIENT: (
        "挂号",
        "挂不上号",
        "排队",
        "候诊",
        "门诊",
        "门诊部",
        "预约",
        "等候",
        "号源",
        "叫号",
        "加号",
        "自助机",
        "导诊",
        "分诊",
        "就诊流程",
    ),
}

_PRIORITY = {category: rank for rank, category in enumerate(Category)}


@dataclass(frozen=True)
class CategoryMatch:
    category: Category
    keywords: tuple[str, ...]
    score: int  # length of the longest matched keyword


@dataclass(frozen=True)
class Classification:
    primary: Category
    matches: tuple[CategoryMatch, ...]  # best first


def normalise(text: str) -> str:
    """Full-width letters and digits become half-width, and case is folded (ＣＴ → ct)."""
    return unicodedata.normalize("NFKC", text).casefold()


class KeywordClassifier:
    """Finds every keyword in one pass over the text (one probe per keyword length at each
    position) and ranks categories by the rule in the module docstring."""

    def __init__(self, keywords: Mapping[Category, Iterable[str]] = DEFAULT_KEYWORDS) -> None:
        index: dict[str, tuple[Category, str]] = {}
        for given, words in keywords.items():
            category = Category(given)
            for word in words:
                key = normalise(word).strip()
                if not key:
                    raise ValueError(f"keywords: empty keyword in {category.value}")
                other = index.setdefault(key, (category, word))[0]
                if other is not category:
                    raise ValueError(
                        f"keywords: {word!r} is in two categories ({other.value}, {category.value})"
                    )
        self._index = index
        self._lengths = sorted({len(k) for k in index}, reverse=True)

    def classify(self, text: str) -> Classification:
        found: dict[Category, dict[str, None]] = {}  # insertion-ordered, no duplicates
        text = normalise(text)
        index, lengths = self._index, self._lengths
        for start in range(len(text)):
            for length in lengths:
                hit = index.get(text[start : start + length])
                if hit is not None:
                    found.setdefault(hit[0], {})[hit[1]] = None
        if not found:
            return Classification(Category.OTHER, ())
        matches = sorted(
            (
                CategoryMatch(category, tuple(words), max(len(normalise(w)) for w in words))
                for category, words in found.items()
            ),
            key=lambda m: (-m.score, -len(m.keywords), _PRIORITY[m.category]),
        )
        return Classification(matches[0].category, tuple(matches))
