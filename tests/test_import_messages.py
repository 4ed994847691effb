"""Every import issue reads fully in Chinese and in English: a label per code, parameters worded, no raw None/nan."""

from __future__ import annotations

import math
import re
import string

import pytest

from data.imports.issues import MESSAGES, Issue
from layers.imports import issue_text
from layers.labels import LABELS

#: Parameter values as the importer gives them (codes, library details), by parameter name.
SAMPLES: dict[str, object] = {
    "field": "members", "other": "county_code", "value": "嘉兴市", "level": "city", "target": "stockpiles", "layer": "teams",
    "origin": "base", "crs": "gcj02", "declared": "bd09", "best": "wgs84", "file_crs": "EPSG:4490", "type": "LineString",
    "expected": "Polygon or MultiPolygon", "kind": "sheet", "found": "no county", "detail": "Self-intersection[121.4 31.2]",
    "allowed": "fire, professional, township, social", "encoding": "gbk", "format": "GeoJSON", "name": "队伍.xlsx",
    "available": "队伍、说明", "columns": "备注、联系人", "candidates": "鼓楼区（南京市 320106）、鼓楼区（徐州市 320302）",
    "county": "嘉善县（嘉兴市 330421）", "city": "苏州", "stated": "歙县 341021", "code": "330421",
}
#: Latin words a Chinese sentence may carry: format and standard names, units.
ALLOWED = {"CSV", "XLSX", "xlsx", "xls", "GeoJSON", "GeoPackage", "gpkg", "Shapefile", "shp", "zip", "WKT", "EPSG", "WGS84",
           "GCJ-02", "BD-09", "GDAL", "JSON", "MB", "UTF-8", "GBK", "FeatureCollection", "Feature", "pyproj", "x", "y"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _issue(code: str) -> Issue:
    names = _fields(MESSAGES[code]) | _fields(LABELS[f"imp.issue.{code}"][0]) | _fields(LABELS[f"imp.issue.{code}"][1])
    return Issue(code, {n: SAMPLES.get(n, 12) for n in names})


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_issue_has_a_label_in_both_languages(code):
    assert f"imp.issue.{code}" in LABELS
    zh, en = LABELS[f"imp.issue.{code}"]
    assert zh != en and re.search(r"[\u4e00-\u9fff]", zh)


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_chinese_issue_text_has_no_english_fragments(code):
    text = issue_text(_issue(code), "zh")
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9.\-]*[A-Za-z0-9]|[A-Za-z]", text))
    assert words <= ALLOWED, (text, words - ALLOWED)
    assert not re.search(r"[.;:]\s|\.$", text), text  # Chinese punctuation in Chinese
    assert "None" not in text and "nan" not in text


def test_parameters_are_worded_for_the_reader():
    assert issue_text(Issue("missing", {"field": "members"}), "zh") == "“队员人数”为空。"
    assert issue_text(Issue("missing", {"field": "members"}), "en") == "`Members` is empty."
    assert issue_text(Issue("id_exists", {"value": "T001", "origin": "base"}), "zh") == "编号“T001”已存在于系统中（基础数据）。"
    assert issue_text(Issue("not_county", {"field": "county_code", "value": "嘉兴市", "level": "city"}), "zh") == "“所属区县”为“嘉兴市”，是地市级行政区；此处需要区县。"
    repaired = issue_text(Issue("geometry_repaired", {"detail": "Self-intersection[121.425 31.225]"}), "zh")
    assert repaired == "几何无效（自相交（121.425 31.225）），已自动修复。"
    assert issue_text(Issue("bad_file", {"format": "XLSX", "detail": "KeyError: 'xl/workbook.xml'"}), "zh") == "XLSX 文件无法读取：文件已损坏、不完整或格式不符"
    assert "KeyError" in issue_text(Issue("bad_file", {"format": "XLSX", "detail": "KeyError: 'x'"}), "en")
    blank = issue_text(Issue("bad_number", {"field": "lon", "value": math.nan}), "zh")
    assert blank == "“经度 / X”为“—”，不是数字。"
