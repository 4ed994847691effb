"""Names every room of `data` shares: the repository root, the operational layers and their columns, departments, Beijing time.

The lowest module of the package: it imports nothing of `data`, so the dataset build, the
storage backends, users' imports, the incident log and the accounts all read the same
definitions without importing one another.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

#: The repository's root folder (``data/build/`` holds the built dataset and the workspace file).
ROOT = Path(__file__).resolve().parent.parent

#: Point layers of operational data (sample CSVs under data/samples/), in display order.
POINT_LAYERS = ("projects", "bases", "teams", "stockpiles", "hazards", "shelters")

#: Department codes, in display order (labels ``dept.<code>`` in layers/labels.py).
DEPARTMENTS = ("emergency", "fire", "police", "transport", "water", "weather", "natural_resources", "health")

#: Columns of each operational layer (exact, in order), as the sample CSVs have them.
SAMPLE_SCHEMAS: dict[str, tuple[str, ...]] = {
    "projects": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "status", "data_status"),
    "bases": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "data_status"),
    "teams": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "members", "base_id", "data_status"),
    "stockpiles": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "data_status"),
    "hazards": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "risk_level", "data_status"),
    "shelters": ("id", "name", "kind", "department", "owner", "county_code", "lon", "lat", "capacity_persons", "data_status"),
    "inventory": ("stockpile_id", "material", "unit", "quantity"),
    "contacts": ("id", "department", "jurisdiction_code", "unit", "role", "duty_phone", "data_status"),
}
#: Columns that may be empty, by layer.
OPTIONAL_COLUMNS: dict[str, set[str]] = {"teams": {"base_id"}}
#: Columns holding whole numbers.
INTEGER_COLUMNS = {"members", "capacity_persons"}
#: Allowed `kind` codes, by layer.
KINDS: dict[str, tuple[str, ...]] = {
    "projects": ("rail", "road", "water", "ecology", "energy"),
    "bases": ("hazchem", "water_rescue", "comprehensive"),
    "teams": ("fire", "professional", "township", "social"),
    "stockpiles": ("flood_control", "general", "hazchem", "medical"),
    "hazards": ("hazchem_plant", "flood_prone", "geological", "dam_reservoir", "pipeline", "port"),
    "shelters": ("indoor", "outdoor"),
}

#: Beijing time (UTC+8, no daylight saving): every time of the log and the accounts.
BEIJING = timezone(timedelta(hours=8))


def now_beijing() -> datetime:
    """The current Beijing time, naive, to the second."""
    return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
