"""Hazard scenarios (情景模拟): the saved scenarios, append-only and attached to incidents through their log (`store`), and a scenario's assessment on the current data (`assess`)."""

from data.scenarios.assess import Assessment, assess, parse_point, parse_track
from data.scenarios.store import ScenarioError, ScenarioStore, SavedScenario

__all__ = ["Assessment", "SavedScenario", "ScenarioError", "ScenarioStore", "assess", "parse_point", "parse_track"]
