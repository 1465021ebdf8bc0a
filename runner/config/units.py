"""Durations and byte sizes as job files write them."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

DURATION_HELP = (
    "write a duration such as 250ms, 10s, 5m, 1h, 1h30m or a number of seconds"
)
SIZE_HELP = "write a size such as 65536, 512KiB, 10MiB or 1GB"


def parse_duration(value: object) -> float:
    """Return a duration in seconds; raise ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, found {value}; {DURATION_HELP}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
    else:
        raise ValueError(f"expected a duration; {DURATION_HELP}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration {value!r} must be zero or more; {DURATION_HELP}")
    return seconds


def _parse_duration_text(text: str) -> float:
    position = 0
    total = 0.0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"invalid duration {text!r}; {DURATION_HELP}") from None
    return total


def format_duration(seconds: float) -> str:
    """Write seconds the way job files do (``250ms``, ``10s``, ``1.5s``)."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def parse_size(value: object) -> int:
    """Return a size in bytes; raise ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, found {value}; {SIZE_HELP}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid size {value!r}; {SIZE_HELP}")
        unit = (match.group(2) or "B").lower()
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size; {SIZE_HELP}")
    if size <= 0:
        raise ValueError(f"size {value!r} must be more than zero; {SIZE_HELP}")
    return size
