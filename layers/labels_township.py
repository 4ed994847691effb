"""Labels (Chinese, English) of township (乡镇/街道) polygons: their import, their map layer and their indicators; merged into `layers.labels.LABELS`."""

from __future__ import annotations

LABELS_TOWNSHIP: dict[str, tuple[str, str]] = {
    # the layer, its import fields and issues (data page)
    "layer.townships": ("乡镇（街道）范围", "Townships (乡镇/街道)"),
    "imp.field.code": ("乡镇（街道）代码", "Township code"),
    "imp.issue.duplicate_code": ("乡镇（街道）代码“{value}”重复（首次出现在第 {first} 行）：每个乡镇（街道）只导入一次。",
                                 "Township code {value} is given again (first at row {first}): each township once."),
    "imp.issue.code_exists": ("乡镇（街道）代码“{value}”已在系统中（导入 {origin}）：如需替换，请先撤销该次导入。",
                              "Township code {value} is already in the store (import {origin}): remove that import first to replace the township."),
    "town.tip_code": ("代码 {code}", "code {code}"),
    # the zones page: township indicators in the coverage view
    "zon.town_title": ("乡镇（街道）指标：专业救援队伍与 {minutes} 分钟覆盖", "Township indicators: professional teams and {minutes}-min coverage"),
    "zon.town_caption": ("{n} 个乡镇（街道）：每个乡镇（街道）至少 1 支专业救援队伍（专业队伍或乡镇（街道）队伍，按队伍位置落在哪个乡镇（街道）计）；"
                         "覆盖率为从所选 {sites} 处救援力量出发、{minutes} 分钟内经路网可达的面积占比（每个乡镇（街道）单独网格，间距 {spacing:g} 公里），达标为 100%。",
                         "{n} townships: at least one professional team per township (professional or township teams, counted in the township their position lies in); "
                         "coverage is the share of the township's area reached by road within {minutes} min from the {sites} chosen facilities (a grid per township, {spacing:g} km), "
                         "the target being 100 %."),
    "zon.town_none_here": ("已导入的乡镇（街道）范围都不在所选区域内：请选择其他区域。", "No imported township lies in the chosen area: choose another area."),
    "zon.town_hint": ("尚未导入乡镇（街道）范围，因此没有乡镇级指标。请在“数据管理 → 导入 → 乡镇（街道）范围”上传乡镇（街道）边界文件"
                      "（GeoJSON、GeoPackage、压缩的 Shapefile，或带 WKT 列的 CSV/XLSX，含名称列，可含代码和所属区县列）。",
                      "No township polygons are imported, so there are no township indicators. Upload a township boundary file under "
                      "Data management → Import → Townships (乡镇/街道) (GeoJSON, GeoPackage, zipped Shapefile, or CSV/XLSX with a WKT column; "
                      "a name column, and optionally code and county columns)."),
    "zon.town_failed": ("无法计算乡镇（街道）指标：{reason}", "Township indicators could not be computed: {reason}"),
    "zon.town_name": ("乡镇（街道）", "Township"),
    "zon.town_code": ("代码", "Code"),
    "zon.town_teams": ("专业救援队伍（支）", "Professional teams"),
    "zon.town_teams_ok": ("队伍达标（≥1 支）", "Teams target (≥ 1)"),
    "zon.town_area": ("面积（平方公里）", "Area (km²)"),
    "zon.town_share": ("{minutes} 分钟覆盖率（%）", "{minutes}-min coverage (%)"),
    "zon.town_cover_ok": ("覆盖达标（100%）", "Coverage target (100 %)"),
    "zon.town_uncovered": ("未覆盖面积（平方公里）", "Area not covered (km²)"),
    "zon.town_no_road": ("无路可达网格数", "Cells no road reaches"),
    "zon.town_reasons": ("差距", "Gaps"),
    "zon.town_yes": ("达标", "met"),
    "zon.town_no": ("未达标", "not met"),
    "zon.town_gaps": ("未达标的乡镇（街道）：{n} 个（共 {total} 个）", "Townships short of a target: {n} of {total}"),
    "zon.town_no_gaps": ("所选区域内每个乡镇（街道）都达到两项指标。", "Every township in the chosen area meets both targets."),
    "zon.town_download": ("下载乡镇（街道）指标 CSV", "Download township indicators (CSV)"),
    "zon.town_legend": ("地图：乡镇（街道）边界按差距着色（绿：达标；橙：无专业队伍；红：未全覆盖；紫：两项都未达标）。",
                        "Map: township outlines coloured by gap (green: both met; orange: no professional team; red: not fully covered; purple: both short)."),
    "zon.town_tip": ("{name}（{county}）\n专业救援队伍 {teams} 支；{minutes} 分钟覆盖 {share}%", "{name} ({county})\nprofessional teams {teams}; {minutes}-min coverage {share} %"),
    "town.gap.no_team": ("无专业救援队伍", "no professional team"),
    "town.gap.not_covered": ("未全部覆盖", "not fully covered"),
    # geo.township.TownshipError codes (a township file read directly with `read_townships`)
    "town.err.unreadable": ("无法读取乡镇（街道）范围文件：请提供 GeoJSON、GeoPackage 或压缩的 Shapefile。", "The township file cannot be read: give a GeoJSON, GeoPackage or zipped Shapefile."),
    "town.err.no_column": ("文件中没有列“{column}”（可用列：{available}）。", "The file has no column “{column}” (it has {available})."),
    "town.err.no_polygons": ("文件中没有乡镇（街道）面（找到的几何类型：{found}）：每个乡镇（街道）须为一个面或多面。",
                             "The file holds no township polygons (geometry types found: {found}): give one (multi)polygon per township."),
    "town.err.no_name": ("找不到乡镇（街道）名称列（可用列：{available}）：请将名称列命名为 名称、乡镇 或 街道。",
                         "No column of township names (the file has {available}): name it name, 名称, 乡镇 or 街道."),
    "town.err.not_lonlat": ("坐标不是经纬度（图层一角为 x={x}, y={y}）：请保存带坐标系的文件，或转换为 WGS84 经纬度。",
                            "The coordinates are not longitude/latitude (a corner is x={x}, y={y}): save the layer with its CRS, or in WGS84 lon/lat."),
    "town.err.crs_conflict": ("文件为投影坐标系 {file_crs}，不能再按 {crs} 纠偏：请将坐标系选为 WGS84。",
                              "The layer is in the projected CRS {file_crs}; the {crs} shift applies to lon/lat only: choose WGS84."),
    "town.err.duplicate_code": ("代码 {township_code} 对应多个不同名称的乡镇（街道）：{names}。", "Code {township_code} is given to townships of different names: {names}."),
}
