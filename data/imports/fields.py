"""What each importable layer holds: fields, their types, header aliases (Chinese and English) and value aliases.

`suggest_mapping` proposes which column of a user's file feeds each field, from the header
names; `normalise_department` and `normalise_value` read coded values written as codes or
as the Chinese words departments use (消防救援 → ``fire``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from data.schema import INTEGER_COLUMNS, KINDS, OPTIONAL_COLUMNS, DEPARTMENTS, SAMPLE_SCHEMAS
from data.schema import POINT_LAYERS
from geo.township import CODE_CANDIDATES, NAME_CANDIDATES, PARENT_CANDIDATES

#: Layers that users can import into the workspace, in display order.
IMPORT_LAYERS = (*POINT_LAYERS, "inventory", "contacts", "closures", "townships")
#: Polygon layers (geometry from the file, or WKT in a ``wkt`` column of CSV/XLSX).
POLYGON_LAYERS = ("closures", "townships")
#: Non-spatial tables.
TABLE_LAYERS = ("inventory", "contacts")
#: Columns of the closures table (besides geometry).
CLOSURE_FIELDS = ("id", "name", "reason")
#: The default `data_status` of imported records that do not state one.
IMPORTED_LABEL = "导入"
#: Longest accepted text value (characters).
MAX_TEXT = 200


@dataclass(frozen=True)
class Field:
    """One field of a layer.

    `kind` is 'id', 'text', 'number' (lon/lat), 'integer' (non-negative), 'positive',
    'department', 'coded' (kind/status/risk: known values or text), 'county' (county code
    or name), 'city' (city code or name, to tell same-named counties apart), 'jurisdiction'
    (any jurisdiction code or name), 'ref' (an id of another layer) or 'wkt'.
    """

    name: str
    kind: str
    required: bool
    target: str = ""  # layer referred to by a 'ref' field
    stored: bool = True  # False: read only to check or resolve others ('city' picks among same-named counties)


def _kind_of(layer: str, name: str) -> str:
    special = {
        "id": "id", "lon": "number", "lat": "number", "department": "department", "county_code": "county",
        "jurisdiction_code": "jurisdiction", "quantity": "positive", "kind": "coded", "status": "coded",
        "risk_level": "coded", "stockpile_id": "ref", "base_id": "ref",
    }
    if name in INTEGER_COLUMNS:
        return "integer"
    return special.get(name, "text")


def fields(layer: str) -> tuple[Field, ...]:
    """The fields of `layer` (one of `IMPORT_LAYERS`), in template order."""
    if layer not in IMPORT_LAYERS:
        msg = f"`layer` was {layer!r} but is expected to be in {IMPORT_LAYERS}."
        raise ValueError(msg)
    if layer == "closures":
        return (Field("id", "id", False), Field("name", "text", True), Field("reason", "text", False), Field("wkt", "wkt", True))
    if layer == "townships":
        # The county is found from a point inside the polygon when not given, as for point layers.
        return (Field("id", "id", False), Field("name", "text", True), Field("code", "text", False), Field("county_code", "county", False),
                Field("city", "city", False, stored=False), Field("wkt", "wkt", True))  # fmt: skip
    # What a user's file must give: name, department, position (and the capacity of shelters).
    # Ids are generated when missing (`data.importers.generated_ids`); an unknown head count stays unknown.
    optional = {"id", "kind", "owner", "county_code", "data_status", "status", "risk_level", "members", *OPTIONAL_COLUMNS.get(layer, ())}
    targets = {"stockpile_id": "stockpiles", "base_id": "bases"}
    out = []
    for name in SAMPLE_SCHEMAS[layer]:
        out.append(Field(name, _kind_of(layer, name), name not in optional, targets.get(name, "")))
        if name == "county_code":
            out.append(Field("city", "city", False, stored=False))
    return tuple(out)


def stored_fields(layer: str) -> tuple[Field, ...]:
    """The fields of `layer` that the workspace keeps (templates and exports have these columns)."""
    return tuple(f for f in fields(layer) if f.stored)


#: Header names that suggest each field (compared after `normalise_header`).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "编码", "序号", "标识码", "唯一编号", "唯一标识", "fid", "no"),
    "name": ("name", "名称", "名字", "单位名称", "队伍名称", "场所名称", "仓库名称", "储备点名称", "项目名称", "基地名称", "隐患名称", "危险源名称", "标题", "title"),
    "kind": ("kind", "type", "类别", "类型", "种类", "分类", "队伍类型", "场所类型", "物资类型", "项目类型"),
    "department": ("department", "dept", "部门", "责任部门", "主管部门", "行业部门", "所属部门", "行业主管部门"),
    "owner": ("owner", "权属单位", "所属单位", "管理单位", "责任单位", "隶属单位", "建设单位"),
    "county_code": ("county_code", "countycode", "county", "countyname", "district", "区县代码", "县区代码", "区县编码", "行政区划代码", "区划代码", "行政区代码", "adcode",
                    "所属区县", "区县", "县区", "所在区县", "所属县区", "所在县区", "区县名称", "县区名称", "所属区县名称", "县市区", "县", "所属区", "所属县"),
    "city": ("city", "cityname", "prefecture", "所属地市", "地市", "所属城市", "所在城市", "所在地市", "城市", "设区市", "地级市", "所属市", "市", "地市名称", "城市名称"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度", "东经", "经度坐标", "x坐标", "横坐标"),
    "lat": ("lat", "latitude", "y", "纬度", "北纬", "纬度坐标", "y坐标", "纵坐标"),
    "members": ("members", "人数", "队员人数", "队员数", "人员数", "人员数量", "编制人数", "队伍人数"),
    "base_id": ("base_id", "baseid", "基地编号", "所属基地", "所属基地编号"),
    "capacity_persons": ("capacity_persons", "capacity", "容纳人数", "可容纳人数", "容量", "避难人数", "容纳能力"),
    "risk_level": ("risk_level", "risklevel", "risk", "风险等级", "风险级别", "危险等级"),
    "status": ("status", "状态", "建设状态", "项目状态"),
    "data_status": ("data_status", "datastatus", "数据性质", "数据状态"),
    "stockpile_id": ("stockpile_id", "stockpileid", "储备点编号", "仓库编号", "储备库编号", "储备点"),
    "material": ("material", "物资", "物资名称", "品名", "物资品名"),
    "quantity": ("quantity", "qty", "数量", "库存", "库存数量", "储备数量"),
    "jurisdiction_code": ("jurisdiction_code", "jurisdictioncode", "jurisdiction", "行政区划代码", "区划代码", "辖区代码", "adcode", "行政区划", "所属行政区", "所属辖区", "辖区", "所在地区"),
    "unit": ("unit", "单位"),
    "role": ("role", "岗位", "职务", "角色"),
    "duty_phone": ("duty_phone", "dutyphone", "phone", "tel", "值班电话", "电话", "联系电话"),
    "reason": ("reason", "原因", "封闭原因", "事由"),
    "wkt": ("wkt", "geometry", "geom", "几何", "范围", "封闭范围"),
}
#: Codes that name the township itself in a township layer (its 9- or 12-digit division code), not its county.
_TOWNSHIP_CODE_WORDS = {"行政区划代码", "区划代码", "行政区代码", "adcode"}
#: Where a word means something else in one layer.
LAYER_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("inventory", "unit"): ("unit", "计量单位", "单位"),
    ("contacts", "unit"): ("unit", "单位", "单位名称", "机构", "机构名称"),
    # Township layers name their columns as `geo.township.read_townships` reads them (osm_name, official_control_code_2023, district …).
    ("townships", "id"): ("id", "编号", "唯一编号", "唯一标识", "标识码", "fid"),
    ("townships", "name"): (*NAME_CANDIDATES, "名字", "乡镇街道名称"),
    ("townships", "code"): CODE_CANDIDATES,
    ("townships", "county_code"): tuple(dict.fromkeys((*PARENT_CANDIDATES, *(a for a in ALIASES["county_code"] if a not in _TOWNSHIP_CODE_WORDS)))),
    ("townships", "wkt"): ("wkt", "geometry", "geom", "几何", "乡镇范围", "街道范围", "范围", "边界", "轮廓"),
}

#: Column names of the Chinese import templates (each maps back to its field by `suggest_mapping`).
TEMPLATE_HEADERS_ZH: dict[str, str] = {
    "id": "编号", "name": "名称", "kind": "类型", "department": "所属部门", "owner": "权属单位", "county_code": "所属区县",
    "lon": "经度", "lat": "纬度", "members": "队员人数", "base_id": "所属基地编号", "capacity_persons": "可容纳人数",
    "risk_level": "风险等级", "status": "建设状态", "data_status": "数据性质", "stockpile_id": "储备点编号",
    "material": "物资名称", "quantity": "数量", "jurisdiction_code": "所属行政区", "role": "岗位", "duty_phone": "值班电话",
    "reason": "封闭原因", "wkt": "封闭范围",
}
#: Where the same field has another Chinese column name in one layer.
LAYER_TEMPLATE_HEADERS_ZH: dict[tuple[str, str], str] = {
    ("inventory", "unit"): "计量单位", ("contacts", "unit"): "单位名称", ("townships", "code"): "乡镇代码", ("townships", "wkt"): "乡镇范围",
}
#: Chinese names of the importable layers (sheet names of the Chinese templates).
LAYER_NAMES_ZH: dict[str, str] = {
    "projects": "区域一体化项目", "bases": "应急救援基地", "teams": "救援队伍", "stockpiles": "物资储备点", "hazards": "危险源隐患点",
    "shelters": "避难场所", "inventory": "物资库存", "contacts": "值班联系表", "closures": "道路封闭区域", "townships": "乡镇（街道）范围",
}


def template_header(layer: str, name: str, lang: str) -> str:
    """The column name of field `name` of `layer` in a template of language `lang` ('zh': 名称, 'en': name)."""
    if lang == "en":
        return name
    return LAYER_TEMPLATE_HEADERS_ZH.get((layer, name), TEMPLATE_HEADERS_ZH.get(name, name))


_PARENS = re.compile(r"\(.*?\)|\[.*?\]|【.*?】")
_STRIP = re.compile(r"[\s_\-\.:：/\\*]+")


def normalise_header(text: str) -> str:
    """A header name for comparison: NFKC, lower case, no bracketed units, spaces or punctuation."""
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = _PARENS.sub("", s)
    return _STRIP.sub("", s)


def _aliases(layer: str, name: str) -> tuple[str, ...]:
    return tuple(normalise_header(a) for a in LAYER_ALIASES.get((layer, name), ALIASES.get(name, (name,))))


def _score(header: str, aliases: tuple[str, ...]) -> int:
    """300 for an exact alias, 200 + its length for a Chinese alias inside the header, else 0."""
    if header in aliases:
        return 300
    # A longer alias contained in the header is the better hint ('队员人数' over '人数').
    found = [len(a) for a in aliases if len(a) >= 2 and not a.isascii() and a in header]
    return 200 + max(found) if found else 0


def suggest_mapping(columns: list[str], layer: str, *, has_geometry: bool = False) -> dict[str, str | None]:
    """For each field of `layer`, the file column that probably holds it (None when no header fits).

    Each column is used once; exact alias matches win over partial ones.  With
    `has_geometry` (a spatial file), lon/lat/wkt are left unmapped: the geometry is used.
    """
    names = [f.name for f in fields(layer) if not (has_geometry and f.name in ("lon", "lat", "wkt"))]
    headers = {c: normalise_header(c) for c in columns}
    candidates = sorted(
        ((_score(h, _aliases(layer, n)), -i, n, c) for i, n in enumerate(names) for c, h in headers.items()),
        reverse=True,
    )
    mapping: dict[str, str | None] = {n: None for n in names}
    used: set[str] = set()
    for score, _, name, column in candidates:
        if score and mapping[name] is None and column not in used:
            mapping[name] = column
            used.add(column)
    return {f.name: mapping.get(f.name) for f in fields(layer)}


def looks_like_header(cells: list[str]) -> bool:
    """True when at least two cells are known field names (a header row, not a title or data)."""
    known = {a for names in (*ALIASES.values(), *LAYER_ALIASES.values()) for a in map(normalise_header, names)}
    return sum(normalise_header(c) in known for c in cells if str(c).strip()) >= 2


#: Words in a department value and the department code they mean, checked in order.
DEPARTMENT_WORDS: tuple[tuple[str, str], ...] = (
    ("消防", "fire"), ("fire", "fire"),
    ("公安", "police"), ("交警", "police"), ("police", "police"),
    ("交通", "transport"), ("transport", "transport"),
    ("水利", "water"), ("水务", "water"), ("water", "water"),
    ("气象", "weather"), ("weather", "weather"),
    ("自然资源", "natural_resources"), ("规划", "natural_resources"), ("natural", "natural_resources"),
    ("卫生", "health"), ("卫健", "health"), ("疾控", "health"), ("急救", "health"), ("医疗", "health"), ("health", "health"),
    ("应急", "emergency"), ("emergency", "emergency"),
)


def normalise_department(value: str) -> str | None:
    """The department code of `value` (a code, or e.g. '消防救援支队'); None when unknown."""
    s = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if s in DEPARTMENTS:
        return s
    return next((code for word, code in DEPARTMENT_WORDS if word in s), None) if s else None


#: Words that mean a coded value, per field (layer-specific for `kind`), checked in order.
VALUE_WORDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("projects", "kind"): (("铁路", "rail"), ("轨道", "rail"), ("公路", "road"), ("道路", "road"), ("桥", "road"), ("水利", "water"), ("生态", "ecology"), ("环境", "ecology"), ("能源", "energy"), ("电", "energy")),
    ("bases", "kind"): (("危化", "hazchem"), ("危险化学", "hazchem"), ("水域", "water_rescue"), ("水上", "water_rescue"), ("综合", "comprehensive")),
    ("teams", "kind"): (("消防", "fire"), ("专业", "professional"), ("乡镇", "township"), ("街道", "township"), ("社会", "social"), ("志愿", "social")),
    ("stockpiles", "kind"): (("防汛", "flood_control"), ("防洪", "flood_control"), ("危化", "hazchem"), ("医疗", "medical"), ("药品", "medical"), ("综合", "general"), ("通用", "general"), ("生活", "general")),
    ("hazards", "kind"): (("危化", "hazchem_plant"), ("化工", "hazchem_plant"), ("易涝", "flood_prone"), ("内涝", "flood_prone"), ("洪", "flood_prone"), ("地质", "geological"), ("滑坡", "geological"), ("崩塌", "geological"), ("泥石流", "geological"), ("水库", "dam_reservoir"), ("堤", "dam_reservoir"), ("坝", "dam_reservoir"), ("管线", "pipeline"), ("管道", "pipeline"), ("港", "port"), ("码头", "port")),
    ("shelters", "kind"): (("室内", "indoor"), ("室外", "outdoor"), ("广场", "outdoor"), ("公园", "outdoor"), ("绿地", "outdoor")),
    ("projects", "status"): (("规划", "planning"), ("前期", "planning"), ("在建", "construction"), ("建设中", "construction"), ("施工", "construction"), ("建成", "operating"), ("运营", "operating"), ("投用", "operating")),
    ("hazards", "risk_level"): (("重大", "major"), ("较大", "high"), ("一般", "medium")),
}
#: Allowed codes of the coded fields other than `kind`.
_CODES: dict[str, tuple[str, ...]] = {"status": ("planning", "construction", "operating"), "risk_level": ("major", "high", "medium")}


def allowed_values(layer: str, name: str) -> tuple[str, ...]:
    """The codes a coded field of `layer` knows ('kind', 'status', 'risk_level')."""
    return KINDS.get(layer, ()) if name == "kind" else _CODES.get(name, ())


def normalise_value(layer: str, name: str, value: str) -> str | None:
    """The code of a coded `value` (a code, or a Chinese word for it); None when unknown."""
    s = unicodedata.normalize("NFKC", str(value)).strip()
    if s.lower() in allowed_values(layer, name):
        return s.lower()
    return next((code for word, code in VALUE_WORDS.get((layer, name), ()) if word in s), None) if s else None


#: What each field means, for the template's 说明 sheet: (Chinese, English).
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "id": ("唯一编号（可空：留空则按图层、名称和位置自动生成，同一文件重复导入得到相同编号）",
           "unique id (optional: left empty, it is generated from the layer, the name and the position, the same on every re-import of the file)"),
    "name": ("名称", "name"),
    "kind": ("类别（代码或中文，如 消防救援队伍）", "kind (code or Chinese word)"),
    "department": ("责任部门（代码或中文，如 应急管理、消防救援、水利）", "department (code or Chinese name)"),
    "owner": ("权属单位", "owning unit"),
    "county_code": ("所属区县：6 位代码或名称（如 330421 或 嘉善县；同名区县如 鼓楼区 按所属地市或位置区分）；留空则按坐标判定",
                    "county: 6-digit code or name (e.g. 330421 or 嘉善县; same-named counties such as 鼓楼区 are told apart by the city or the position); left empty, it is found from the position"),
    "city": ("所属地市（名称或代码，可空；只用于区分同名区县，不单独保存）", "city (name or code, optional; only tells same-named counties apart, not stored)"),
    "lon": ("经度（度）", "longitude (degrees)"),
    "lat": ("纬度（度）", "latitude (degrees)"),
    "members": ("队员人数（非负整数，可空：留空为“未填”，不按 0 计）", "members (whole number ≥ 0, optional: left empty, it is unknown, not 0)"),
    "base_id": ("所属救援基地编号（可空）", "id of the rescue base (optional)"),
    "capacity_persons": ("可容纳人数（非负整数）", "capacity, persons (whole number ≥ 0)"),
    "risk_level": ("风险等级：重大/较大/一般", "risk level: major/high/medium"),
    "status": ("建设状态：规划/在建/已建成", "status: planning/construction/operating"),
    "data_status": ("数据性质（留空为“导入”）", "data status (empty: 导入)"),
    "stockpile_id": ("物资储备点编号（须已在系统中）", "stockpile id (must exist in the store)"),
    "material": ("物资名称", "material"),
    "unit": ("单位", "unit"),
    "quantity": ("数量（大于 0）", "quantity (> 0)"),
    "jurisdiction_code": ("行政区划：代码或名称（省、市或区县，如 330400 或 嘉兴市）", "jurisdiction: code or name (province, city or county, e.g. 330400 or 嘉兴市)"),
    "role": ("岗位", "role"),
    "duty_phone": ("值班电话", "duty phone"),
    "reason": ("封闭原因", "reason"),
    "wkt": ("封闭范围（WKT 多边形，WGS84 经纬度）", "closed area (WKT polygon, WGS84 lon/lat)"),
}
#: Where a field means something more particular in one layer.
LAYER_DESCRIPTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("townships", "id"): ("唯一编号（可空：留空则按名称和范围自动生成，以 TS- 开头）", "unique id (optional: left empty, it is generated from the name and the outline, starting TS-)"),
    ("townships", "name"): ("乡镇（街道）名称", "name of the township (乡镇/街道)"),
    ("townships", "code"): ("乡镇（街道）代码（可空，如 12 位统计用区划代码；同一代码只能导入一次）",
                            "township code (optional, e.g. the 12-digit statistical division code; each code is imported once)"),
    ("townships", "county_code"): ("所属区县：6 位代码或名称（可空：留空则按乡镇范围内的一点判定；填写的区县须与该点所在区县一致）",
                                   "county: 6-digit code or name (optional: left empty, it is the county of a point inside the township; a county given must be that point's)"),
    ("townships", "wkt"): ("乡镇（街道）范围（WKT 多边形，WGS84 经纬度）", "township outline (WKT polygon, WGS84 lon/lat)"),
}


def description(layer: str, name: str) -> tuple[str, str]:
    """What field `name` of `layer` means, for the template's notes: (Chinese, English)."""
    return LAYER_DESCRIPTIONS.get((layer, name)) or DESCRIPTIONS.get(name, (name, name))


# ---- jurisdiction names ---------------------------------------------------------------------

#: Endings dropped to get the short name of a jurisdiction ('嘉善县' → '嘉善').
_NAME_ENDINGS = ("特别行政区", "自治州", "自治县", "新区", "省", "市", "县", "区")
_SPACES = re.compile(r"[\s\u3000·・,，、/]+")


def _plain_name(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(text))).strip()


def _stem(name: str) -> str:
    """The short name of `name` ('嘉善县' → '嘉善'; '郊区' stays whole, a stem needs two characters)."""
    for end in _NAME_ENDINGS:
        if name.endswith(end) and len(name) - len(end) >= 2:
            return name[: -len(end)]
    return name


class JurisdictionNames:
    """Jurisdiction codes from what users write: a code ('330421'), a name ('嘉善县'), a short
    name ('嘉善', only when no other jurisdiction shares it) or a name after its parents
    ('嘉兴市嘉善县', '浙江省嘉兴市嘉善县', '南京鼓楼区').

    Parameters
    ----------
    names, levels, parents : Mapping[str, str]
        Per jurisdiction code: its name, its level ('province', 'city' or 'county') and its
        parent's code ('' for a province).
    """

    def __init__(self, names: Mapping[str, str], levels: Mapping[str, str], parents: Mapping[str, str]):
        self.names = dict(names)
        self.levels = dict(levels)
        self.parents = {code: parents.get(code) or "" for code in self.names}
        self._full: dict[str, list[str]] = {}
        self._short: dict[str, list[str]] = {}
        for code, name in sorted(self.names.items()):
            plain = _plain_name(name)
            self._full.setdefault(plain, []).append(code)
            stem = _stem(plain)
            if stem != plain:
                self._short.setdefault(stem, []).append(code)
        # Parent names (full and short) tried as prefixes, longest first.
        self._prefixes = sorted(
            ((p, code) for code, name in self.names.items() if self.levels[code] != "county" for p in {_plain_name(name), _stem(_plain_name(name))}),
            key=lambda pc: (-len(pc[0]), pc[0], pc[1]),
        )

    def ancestors(self, code: str) -> set[str]:
        """The codes of the city and province above `code`."""
        out, parent = set(), self.parents.get(code, "")
        while parent and parent not in out:
            out.add(parent)
            parent = self.parents.get(parent, "")
        return out

    def _top(self, codes: list[str]) -> list[str]:
        """`codes` without those below another of them (上海市 the province and 上海市 the city: the province)."""
        keep = [c for c in codes if not (self.ancestors(c) & set(codes))]
        return sorted(set(keep))

    def candidates(self, value: str) -> list[str]:
        """Codes that `value` may mean (several for a name shared by jurisdictions; none when unknown)."""
        v = _plain_name(value)
        if not v:
            return []
        if v in self.names:
            return [v]
        for table, key in ((self._full, v), (self._short, v), (self._short, _stem(v))):
            if key in table:
                return self._top(table[key])
        for prefix, parent in self._prefixes:
            rest = v[len(prefix):]
            if rest and v.startswith(prefix):
                found = [c for c in self.candidates(rest) if parent in self.ancestors(c)]
                if found:
                    return found
        return []

    def label(self, code: str) -> str:
        """'鼓楼区（南京市 320106）': a name with its parent and code, to tell same-named places apart."""
        parent = self.names.get(self.parents.get(code, ""), "")
        return f"{self.names.get(code, code)}（{parent + ' ' if parent else ''}{code}）"
