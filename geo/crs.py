"""Convert lon/lat between WGS84, GCJ-02 (Amap, Tencent) and BD-09 (Baidu), vectorised.

GCJ-02 is the obfuscated datum that Chinese web maps must use; it is WGS84 plus a smooth,
position-dependent shift of a few hundred metres.  BD-09 is GCJ-02 with a further rotation
and offset.  The forward functions follow the widely published reference formulas; the
inverse of GCJ-02 has no closed form, so `gcj02_to_wgs84` iterates the forward function
until the round trip is below 1e-9 degrees (about 0.1 mm), far under the 0.5 m the app needs.

All functions take and return numpy arrays (or scalars) of longitude and latitude in
degrees, never lat/lon.  Points outside mainland China are returned unchanged by the
GCJ-02 functions, as the published algorithm does.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import shapely

__all__ = [
    "CRS_NAMES",
    "CoordinateError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_lonlat",
    "to_wgs84",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 reference implementation.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

#: Names accepted by `to_wgs84` (and the CLIs' ``--crs``).
CRS_NAMES = ("wgs84", "gcj02", "bd09")


def _as_arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    if lon.shape != lat.shape:
        msg = f"`lon` and `lat` must have the same shape, got {lon.shape} and {lat.shape}."
        raise ValueError(msg)
    return lon, lat


def out_of_china(lon, lat) -> np.ndarray:
    """Return True where a point lies outside the rough mainland-China box (no GCJ-02 shift).

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in degrees.
    """
    lon, lat = _as_arrays(lon, lat)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 shift (degrees) to add to a WGS84 position."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat (degrees) to GCJ-02."""
    lon, lat = _as_arrays(lon, lat)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-9, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat (degrees) to WGS84 by fixed-point iteration.

    Each step moves the WGS84 estimate by the round-trip error; the shift varies slowly, so
    the error shrinks by about three orders of magnitude per step and 3–4 steps reach
    `tol_deg` (default 1e-9 degrees, about 0.1 mm).
    """
    lon, lat = _as_arrays(lon, lat)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(max_iter):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = glon - lon, glat - lat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return wlon, wlat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat (degrees) to Baidu BD-09."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 lon/lat (degrees) to GCJ-02 (the published closed-form inverse)."""
    lon, lat = _as_arrays(lon, lat)
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat (degrees) to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat (degrees) to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"wgs84": None, "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def to_wgs84(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat from `crs` ('wgs84', 'gcj02' or 'bd09') to WGS84."""
    key = str(crs).lower().replace("-", "").replace("_", "")
    if key == "cgcs2000":  # CGCS2000 and WGS84 agree to a few centimetres.
        key = "wgs84"
    if key not in _TO_WGS84:
        msg = f"`crs` was {crs!r} but is expected to be one of {CRS_NAMES} (or 'cgcs2000')."
        raise ValueError(msg)
    lon, lat = _as_arrays(lon, lat)
    func = _TO_WGS84[key]
    return (lon, lat) if func is None else func(lon, lat)


def transform_geometry(geoms, func):
    """Apply a lon/lat conversion such as `gcj02_to_wgs84` to every vertex of shapely geometries.

    Parameters
    ----------
    geoms : shapely geometry or array of them
    func : callable
        ``func(lon, lat) -> (lon, lat)`` on numpy arrays.
    """

    def _apply(coords: np.ndarray) -> np.ndarray:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _apply)


class CoordinateError(ValueError):
    """Coordinates typed by a user that cannot be read, with a `code` and `params` for a localized message.

    `code` is 'not_lonlat' (not two numbers), 'out_of_range' (outside [-180, 180] × [-90, 90])
    or 'lat_first' (out of range, and looks like LAT,LON); `params` holds ``text`` (as typed)
    and, for the range codes, the numbers read (``lon``, ``lat``).  ``str(exc)`` is an English
    sentence for logs and the command line; pages show a message chosen by `code`.
    """

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


#: What separates longitude from latitude once NFKC has folded full-width forms ('，' → ',').
_LONLAT_SEPARATOR = re.compile(r"[,\s]+")


def parse_lonlat(text: str, crs: str = "wgs84") -> tuple[float, float]:
    """'LON,LAT' in `crs` (degrees) → WGS84 (lon, lat); a `CoordinateError` otherwise.

    The text is NFKC-normalised first, as the importers do: full-width digits, points, commas
    and spaces typed on Chinese keyboards (``１２０．９０７，３０．８４１``) read as their ASCII
    forms.  Longitude and latitude are separated by a comma, spaces, or both; a trailing
    degree sign is allowed.

    Raises
    ------
    CoordinateError
        With `code` 'not_lonlat', 'out_of_range' or 'lat_first' (see the class).
    """
    folded = unicodedata.normalize("NFKC", str(text)).replace("\u2212", "-").replace("°", "")
    parts = [p for p in _LONLAT_SEPARATOR.split(folded.strip()) if p]
    try:
        lon, lat = (float(v) for v in parts)
    except ValueError:
        msg = f"{text!r} is not LON,LAT in degrees, e.g. 121.4737,31.2304."
        raise CoordinateError("not_lonlat", msg, text=str(text)) from None
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        lat_first = bool(abs(lon) <= 90 < abs(lat) <= 180)
        hint = " It looks like LAT,LON: give longitude first." if lat_first else ""
        msg = f"{text!r}: longitude must be in [-180, 180] and latitude in [-90, 90].{hint}"
        raise CoordinateError("lat_first" if lat_first else "out_of_range", msg, text=str(text), lon=lon, lat=lat)
    x, y = to_wgs84(lon, lat, crs)
    return float(x), float(y)
