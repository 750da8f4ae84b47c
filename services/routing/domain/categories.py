"""Complaint categories and the bureau's default keyword map (DOMAIN.md "Routing").

Each category has a default handling department (seeds 002, 004). A hospital may override
the keywords; this module ships the bureau's default. Matching rule: the longest matched
keyword wins, because longer keywords are more specific — "药费" (a drug *fee*) is a fees
complaint, not a pharmacy one, and "护士态度" is about conduct, not nursing technique.
Ties go to the category with more matched keywords, then to the order of `Category`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    MEDICAL_QUALITY = "medical_quality"
    NURSING = "nursing"
    FEES = "fees"
    CONDUCT = "conduct"
    LOGISTICS = "logistics"
    MEDICAL_INSURANCE = "medical_insurance"
    DRUGS = "drugs"
    INFECTION_CONTROL = "infection_control"
    EQUIPMENT = "equipment"
    SECURITY = "security"
    OUTPATIENT = "outpatient"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, str] = {
    Category.MEDICAL_QUALITY: "医疗质量",
    Category.NURSING: "护理",
    Category.FEES: "收费物价",
    Category.CONDUCT: "行风与服务态度",
    Category.LOGISTICS: "后勤与环境",
    Category.MEDICAL_INSURANCE: "医保",
    Category.DRUGS: "药品",
    Category.INFECTION_CONTROL: "院感",
    Category.EQUIPMENT: "医疗器械设备",
    Category.SECURITY: "安全保卫",
    Category.OUTPATIENT: "门诊流程",
    Category.OTHER: "其他",
}

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
        "手术",
        "治疗",
        "诊断",
        "病情",
        "延误",
        "并发症",
        "后遗症",
        "医疗差错",
        "检查结果",
        "病历",
        "会诊",
    ),
    Category.NURSING: (
        "护士",
        "护理",
        "输液",
        "打针",
        "扎针",
        "换药",
        "呼叫铃",
        "陪护",
        "护工",
        "留置针",
    ),
    Category.FEES: (
        "收费",
        "多收",
        "乱收费",
        "重复收费",
        "费用",
        "价格",
        "物价",
        "退费",
        "发票",
        "药费",
        "检查费",
        "住院费",
        "结算",
    ),
    Category.CONDUCT: (
        "态度",
        "服务态度",
        "态度恶劣",
        "态度差",
        "红包",
        "回扣",
        "吃拿卡要",
        "医德",
        "医德医风",
        "行风",
        "辱骂",
        "推诿",
        "不耐烦",
        "护士态度",
        "医生态度",
    ),
    Category.LOGISTICS: (
        "环境",
        "卫生间",
        "厕所",
        "停车",
        "电梯",
        "食堂",
        "饭菜",
        "空调",
        "噪音",
        "脏",
        "开水",
        "被褥",
    ),
    Category.MEDICAL_INSURANCE: ("医保", "报销", "医疗保险", "异地就医", "医保卡", "新农合"),
    Category.DRUGS: ("药品", "发错药", "药房", "处方", "配药", "缺药", "过期药", "取药"),
    Category.INFECTION_CONTROL: ("感染", "院感", "消毒", "交叉感染", "伤口感染", "无菌"),
    Category.EQUIPMENT: ("设备", "器械", "仪器", "设备故障", "机器坏"),
    Category.SECURITY: ("安全", "保安", "被盗", "丢失", "偷", "打架", "医闹", "伤医"),
    Category.OUTPATIENT: (
        "挂号",
        "排队",
        "候诊",
        "门诊",
        "预约",
        "等候",
        "号源",
        "叫号",
        "自助机",
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
    return unicodedata.normalize("NFKC", text).casefold()


class KeywordClassifier:
    def __init__(self, keywords: Mapping[Category, tuple[str, ...]] = DEFAULT_KEYWORDS) -> None:
        index: dict[str, Category] = {}
        for category, words in keywords.items():
            for word in words:
                key = normalise(word)
                if not key:
                    raise ValueError(f"keywords: empty keyword in {category.value}")
                if index.setdefault(key, category) is not category:
                    raise ValueError(f"keywords: {word!r} is in two categories")
        self._index = index
        self._lengths = sorted({len(k) for k in index}, reverse=True)

    def classify(self, text: str) -> Classification:
        found: dict[Category, list[str]] = {}
        text = normalise(text)
        for start in range(len(text)):
            for length in self._lengths:
                category = self._index.get(text[start : start + length])
                if category is not None:
                    words = found.setdefault(category, [])
                    word = text[start : start + length]
                    if word not in words:
                        words.append(word)
        if not found:
            return Classification(Category.OTHER, ())
        matches = sorted(
            (
                CategoryMatch(category, tuple(words), max(map(len, words)))
                for category, words in found.items()
            ),
            key=lambda m: (-m.score, -len(m.keywords), _PRIORITY[m.category]),
        )
        return Classification(matches[0].category, tuple(matches))
