"""deploy/prometheus/metrics.yml, the list of every metric the platform exports, and a
/metrics page checked against it the way Prometheus names what it scrapes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "deploy" / "prometheus" / "metrics.yml"
# What a query adds to a metric's name: a counter's _total, a histogram's series.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Listed:
    name: str
    type: str
    labels: frozenset[str]
    exporters: frozenset[str]
    appears: str


def catalogue(path: Path = CATALOGUE) -> dict[str, Listed]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        entry["name"]: Listed(
            entry["name"],
            entry["type"],
            frozenset(entry["labels"]),
            frozenset(entry["exporters"]),
            entry["appears"],
        )
        for entry in document["metrics"]
    }


def listed_name_of(series: str, listed: dict[str, Listed]) -> str | None:
    """The listed metric a series name in a query belongs to (`x_total`, `x_bucket`...)."""
    if series in listed:
        return series
    for suffix in SERIES_SUFFIXES:
        base = series.removesuffix(suffix)
        if base != series and listed.get(base) and listed[base].type == "histogram":
            return base
    return None


def huiyin_names_in(expression: str) -> set[str]:
    """The huiyin_* series names a PromQL expression reads."""
    return set(re.findall(r"\bhuiyin_[a-z0-9_]+\b", expression))


@dataclass(frozen=True)
class Exported:
    """One huiyin_* family of a /metrics page, named as it is queried."""

    name: str
    type: str
    labels: frozenset[str]
    sampled: bool


def exported(text: str) -> dict[str, Exported]:
    families = list(text_string_to_metric_families(text))
    with_created = {f.name + "_created" for f in families if f.type in ("counter", "histogram")}
    found: dict[str, Exported] = {}
    for family in families:
        if not family.name.startswith("huiyin_") or family.name in with_created:
            continue  # prometheus_client's _created timestamps ride along with their metric
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {key for sample in family.samples for key in sample.labels if key != "le"}
        found[name] = Exported(name, family.type, frozenset(labels), bool(family.samples))
    return found


def mismatches(text: str, exporter: str, listed: dict[str, Listed]) -> list[str]:
    """What on `exporter`'s page the list does not say: unknown names, other types, other
    label names, or a metric served where the list does not name this exporter."""
    problems = []
    for name, family in sorted(exported(text).items()):
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{exporter}: {name} ({family.type}) is not in metrics.yml")
            continue
        if family.type != entry.type:
            problems.append(f"{exporter}: {name} is a {family.type}, listed as {entry.type}")
        if family.sampled and family.labels != entry.labels:
            problems.append(
                f"{exporter}: {name} has labels {sorted(family.labels)}, "
                f"listed with {sorted(entry.labels)}"
            )
        if family.sampled and exporter not in entry.exporters:
            problems.append(
                f"{exporter}: {name} is served here, listed for {sorted(entry.exporters)}"
            )
    return problems
