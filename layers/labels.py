"""Every user-visible label of the app, in Chinese (default) and English, in one table."""

from __future__ import annotations

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"

#: key -> (Chinese, English).  Keep keys grouped by prefix: ui., layer., level., kind., dept., ...
LABELS: dict[str, tuple[str, str]] = {
    # app shell
    "app.title": ("长三角跨区域应急协同一张图", "YRD Cross-Jurisdiction Emergency Coordination Map"),
    "app.language": ("语言 / Language", "语言 / Language"),
    "page.situation": ("态势一张图", "Situation map"),
    "page.sources": ("数据来源", "Data sources"),
    # dataset problems
    "err.dataset": ("数据集不可用：{reason}", "The dataset is not available: {reason}"),
    "err.rebuild": (
        "请在项目目录运行 `make data` 重新构建数据集（离线，约半分钟），然后刷新本页。",
        "Run `make data` in the project folder to rebuild the dataset (offline, about half a minute), then reload this page.",
    ),
    "err.config": ("配置文件 config.toml 有误：{reason}。已按无底图方式显示。", "config.toml is invalid: {reason}. Showing the map without base tiles."),
    # situation page
    "sit.region": ("长三角（沪苏浙皖）", "Yangtze River Delta (SH, JS, ZJ, AH)"),
    "sit.all_departments": ("全部部门", "All departments"),
    "sit.filters": ("筛选", "Filters"),
    "sit.province": ("省（市）", "Province"),
    "sit.city": ("地市", "City"),
    "sit.county": ("区县", "County"),
    "sit.all": ("全部", "All"),
    "sit.department": ("责任部门", "Department"),
    "sit.layers": ("图层", "Layers"),
    "sit.legend": ("图例", "Legend"),
    "sit.boundary_level": ("显示的行政区划层级", "Boundary level shown"),
    "sit.counts": ("当前范围内", "In view"),
    "sit.teams": ("救援队伍", "Rescue teams"),
    "sit.members": ("队员人数", "Team members"),
    "sit.stockpiles": ("物资储备点", "Stockpiles"),
    "sit.shelters": ("避难场所", "Shelters"),
    "sit.shelter_capacity": ("可容纳人数", "Shelter capacity"),
    "sit.sample_note": (
        "标注“示例”的基地、队伍、物资、隐患、避难场所和项目数据为示例数据，位置取自真实地点，记录内容为演示用途。",
        "Bases, teams, stockpiles, hazards, shelters and project sites marked 示例 (sample) are illustrative records placed at real locations.",
    ),
    "sit.no_basemap": ("离线模式：无底图，以行政区划为底。", "Offline: no base map tiles; boundaries are the base."),
    "sit.basemap_on": ("底图瓦片：{name}", "Base tiles: {name}"),
    "sit.in_view_table": ("当前范围内的资源", "Resources in view"),
    "sit.inventory": ("物资库存", "Stockpile inventory"),
    "sit.nothing": ("当前筛选下没有要素。", "Nothing matches the current filters."),
    "sit.sources": ("数据来源与许可", "Data sources and licences"),
    "sit.built_at": ("数据集构建时间：{when}", "Dataset built at {when}"),
    # columns
    "col.name": ("名称", "Name"),
    "col.layer": ("图层", "Layer"),
    "col.kind": ("类别", "Kind"),
    "col.department": ("责任部门", "Department"),
    "col.owner": ("权属单位", "Owner"),
    "col.county": ("所在区县", "County"),
    "col.status": ("数据性质", "Status"),
    "col.source": ("来源", "Source"),
    "col.licence": ("许可", "Licence"),
    "col.date": ("日期", "Date"),
    "col.real": ("真实/示例", "Real / sample"),
    "col.records": ("记录数", "Records"),
    "col.note": ("说明", "Note"),
    "col.material": ("物资", "Material"),
    "col.unit": ("单位", "Unit"),
    "col.quantity": ("数量", "Quantity"),
    "col.population": ("人口", "Population"),
    "val.real": ("真实", "real"),
    "val.sample": ("示例", "sample (示例)"),
    # layers
    "layer.provinces": ("省级行政区", "Provinces"),
    "layer.cities": ("地级市", "Prefecture cities"),
    "layer.counties": ("区县", "Counties / districts"),
    "layer.jurisdictions": ("行政区划", "Jurisdictions"),
    "layer.places": ("居民点（GeoNames）", "Populated places (GeoNames)"),
    "layer.projects": ("区域一体化项目", "Regional-integration projects"),
    "layer.bases": ("应急救援基地", "Rescue bases"),
    "layer.teams": ("救援队伍", "Rescue teams"),
    "layer.stockpiles": ("物资储备点", "Stockpiles"),
    "layer.inventory": ("物资库存", "Stockpile inventory"),
    "layer.hazards": ("危险源/隐患点", "Hazard sources"),
    "layer.shelters": ("避难场所", "Shelters"),
    "layer.contacts": ("值班联系表", "Duty contacts"),
    # levels
    "level.province": ("省级", "province"),
    "level.city": ("地市级", "city"),
    "level.county": ("区县级", "county"),
    "level.auto": ("自动（按范围）", "automatic (by extent)"),
    # departments
    "dept.emergency": ("应急管理", "Emergency management"),
    "dept.fire": ("消防救援", "Fire and rescue"),
    "dept.police": ("公安", "Police"),
    "dept.transport": ("交通运输", "Transport"),
    "dept.water": ("水利（水务）", "Water"),
    "dept.weather": ("气象", "Weather"),
    "dept.natural_resources": ("自然资源（规划）", "Natural resources"),
    "dept.health": ("卫生健康", "Health"),
    # kinds
    "kind.rail": ("铁路", "rail"),
    "kind.road": ("公路/道路", "road"),
    "kind.water": ("水利", "water"),
    "kind.ecology": ("生态环境", "ecology"),
    "kind.energy": ("能源", "energy"),
    "kind.hazchem": ("危化品", "hazardous chemicals"),
    "kind.water_rescue": ("水域救援", "water rescue"),
    "kind.comprehensive": ("综合", "comprehensive"),
    "kind.fire": ("消防救援队伍", "fire and rescue"),
    "kind.professional": ("专业救援队伍", "professional"),
    "kind.township": ("乡镇（街道）救援队伍", "township"),
    "kind.social": ("社会救援力量", "social / volunteer"),
    "kind.flood_control": ("防汛物资", "flood control"),
    "kind.general": ("综合物资", "general"),
    "kind.medical": ("医疗物资", "medical"),
    "kind.hazchem_plant": ("危化品企业", "hazardous-chemical plant"),
    "kind.flood_prone": ("易涝/洪水风险区", "flood-prone area"),
    "kind.geological": ("地质灾害隐患", "geological hazard"),
    "kind.dam_reservoir": ("水库/堤坝", "dam or reservoir"),
    "kind.pipeline": ("油气管线", "pipeline"),
    "kind.port": ("港口码头", "port"),
    "kind.indoor": ("室内避难场所", "indoor"),
    "kind.outdoor": ("室外避难场所", "outdoor"),
    "kind.place": ("居民点", "populated place"),
    "status.planning": ("规划", "planning"),
    "status.construction": ("在建", "under construction"),
    "status.operating": ("已建成", "operating"),
    "risk.major": ("重大", "major"),
    "risk.high": ("较大", "high"),
    "risk.medium": ("一般", "medium"),
}


def t(key: str, lang: str = DEFAULT_LANGUAGE, **fmt: object) -> str:
    """The label `key` in `lang` ('zh' or 'en'), formatted with `fmt`; an unknown key shows as itself."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**fmt) if fmt else text


def label_or(prefix: str, value: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """Label of a coded value (e.g. ``label_or('dept', 'fire')``), else the value itself."""
    return t(f"{prefix}.{value}", lang) if f"{prefix}.{value}" in LABELS else str(value)


#: Department codes in display order (from the label table).
DEPARTMENTS_ORDER: tuple[str, ...] = tuple(k.split(".", 1)[1] for k in LABELS if k.startswith("dept."))
