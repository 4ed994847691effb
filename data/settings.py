"""Site settings from ``config.toml`` (optional): base-map tiles for sites that have a tile server, the shared database's URL."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """``config.toml`` is unreadable or has a bad value; the message says which."""


@dataclass(frozen=True)
class Settings:
    """Settings with their defaults: no base-map tiles (works offline)."""

    tile_url: str | None = None
    tile_name: str = ""
    tile_attribution: str = ""


def settings_path() -> Path:
    """``$YRD_CONFIG`` if set, else ``config.toml`` at the project root."""
    return Path(os.environ.get("YRD_CONFIG", ROOT / "config.toml"))


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read the settings file; a missing file gives the defaults.

    Raises
    ------
    SettingsError
        If the file is not valid TOML or `basemap.tile_url` is not an http(s) XYZ template
        with ``{z}``, ``{x}`` and ``{y}``.
    """
    path = Path(path) if path is not None else settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path.name} is not valid TOML: {exc}"
        raise SettingsError(msg) from exc
    basemap = raw.get("basemap", {})
    url = str(basemap.get("tile_url", "") or "").strip()
    if not url:
        return Settings()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not all(k in url for k in ("{z}", "{x}", "{y}")):
        msg = f"`basemap.tile_url` was {url!r} but must be an http(s) URL template containing {{z}}, {{x}} and {{y}}"
        raise SettingsError(msg)
    return Settings(url, str(basemap.get("name", parsed.netloc)), str(basemap.get("attribution", "")))


def database_url_setting(path: str | os.PathLike | None = None) -> str | None:
    """``[storage] database_url`` of the settings file (the shared PostgreSQL store), or None when absent or empty.

    ``$YRD_DATABASE_URL`` overrides it (see `data.storage.database_url`).

    Raises
    ------
    SettingsError
        If the file is not valid TOML or the value is not a ``postgresql://`` URL.
    """
    path = Path(path) if path is not None else settings_path()
    if not path.exists():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path.name} is not valid TOML: {exc}"
        raise SettingsError(msg) from exc
    url = str(raw.get("storage", {}).get("database_url", "") or "").strip()
    if url and not url.lower().startswith(("postgresql://", "postgres://")):
        msg = f"`storage.database_url` was {url[:40]!r} but must be a PostgreSQL URL starting with postgresql://"
        raise SettingsError(msg)
    return url or None
