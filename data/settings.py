"""Site settings from ``config.toml`` (optional): base-map tiles for sites that have a tile server, the shared database's URL, the read-only wall-screen mode."""

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
    """Settings with their defaults: no base-map tiles (works offline), sign-in and writing allowed.

    `read_only` (``[access] read_only = true``, or ``$YRD_READ_ONLY=1``): a wall screen (大屏) —
    nobody signs in on this server, it shows the map and the boards and writes nothing.
    `sign_in_to_view` (``[access] sign_in_to_view = true``): pages show nothing but the sign-in
    until someone signs in (the default lets anyone on the intranet view; writing always needs
    an account).  Ignored on a wall screen.
    """

    tile_url: str | None = None
    tile_name: str = ""
    tile_attribution: str = ""
    read_only: bool = False
    sign_in_to_view: bool = False


#: The environment variable that turns the read-only wall-screen mode on ("1") or off ("0") whatever the file says.
READ_ONLY_ENV = "YRD_READ_ONLY"


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
    raw = _read(path)
    access = raw.get("access", {})
    read_only = _read_only(access)
    to_view = _flag(access, "sign_in_to_view")
    basemap = raw.get("basemap", {})
    url = str(basemap.get("tile_url", "") or "").strip()
    if not url:
        return Settings(read_only=read_only, sign_in_to_view=to_view)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not all(k in url for k in ("{z}", "{x}", "{y}")):
        msg = f"`basemap.tile_url` was {url!r} but must be an http(s) URL template containing {{z}}, {{x}} and {{y}}"
        raise SettingsError(msg)
    return Settings(url, str(basemap.get("name", parsed.netloc)), str(basemap.get("attribution", "")), read_only, to_view)


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path.name} is not valid TOML: {exc}"
        raise SettingsError(msg) from exc


def _read_only(access: dict) -> bool:
    env = os.environ.get(READ_ONLY_ENV, "").strip()
    if env:
        if env not in ("0", "1"):
            msg = f"`{READ_ONLY_ENV}` was {env!r} but must be 1 (read-only wall screen) or 0."
            raise SettingsError(msg)
        return env == "1"
    return _flag(access, "read_only")


def _flag(access: dict, key: str) -> bool:
    value = access.get(key, False)
    if not isinstance(value, bool):
        msg = f"`access.{key}` was {value!r} but must be true or false."
        raise SettingsError(msg)
    return value


def database_url_setting(path: str | os.PathLike | None = None) -> str | None:
    """``[storage] database_url`` of the settings file (the shared PostgreSQL store), or None when absent or empty.

    ``$YRD_DATABASE_URL`` overrides it (see `data.storage.database_url`).

    Raises
    ------
    SettingsError
        If the file is not valid TOML or the value is not a ``postgresql://`` URL.
    """
    raw = _read(Path(path) if path is not None else settings_path())
    url = str(raw.get("storage", {}).get("database_url", "") or "").strip()
    if url and not url.lower().startswith(("postgresql://", "postgres://")):
        msg = f"`storage.database_url` was {url[:40]!r} but must be a PostgreSQL URL starting with postgresql://"
        raise SettingsError(msg)
    return url or None
