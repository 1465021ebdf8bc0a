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

# Longer timeouts and jitters are mistakes, and far longer ones overflow libcurl's
# millisecond options.
MAX_DURATION_S = 7 * 86400.0
# The largest curl_off_t, the type of libcurl's CURLOPT_MAXFILESIZE_LARGE.
MAX_SIZE = 2**63 - 1

DURATION_HELP = (
    "write a duration such as 250ms, 10s, 5m, 1h, 1h30m or a number of seconds"
)
SIZE_HELP = "write a size such as 65536, 512KiB, 10MiB or 1GB"


def parse_duration(value: object) -> float:
    """Return a duration in seconds; raise ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(
            f"expected a duration, found {str(value).lower()}; {DURATION_HELP}"
        )
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
    else:
        raise ValueError(f"expected a duration; {DURATION_HELP}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration {value!r} must be zero or more; {DURATION_HELP}")
    if seconds > MAX_DURATION_S:
        raise ValueError(
            f"duration {value!r} is longer than the maximum of "
            f"{MAX_DURATION_S / 86400:g} days; {DURATION_HELP}"
        )
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


def format_milliseconds(milliseconds: float) -> str:
    """Write a call's duration for people: "0.4 ms" below 10 ms, else "250 ms".

    Calls on a reused connection to a nearby server take well under a
    millisecond, which whole milliseconds would show as "0 ms".
    """
    if milliseconds < 10:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.0f} ms"


def parse_size(value: object) -> int:
    """Return a size in bytes; raise ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, found {str(value).lower()}; {SIZE_HELP}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid size {value!r}; {SIZE_HELP}")
        unit = (match.group(2) or "B").lower()
        number = float(match.group(1)) * _SIZE_UNITS[unit]
        if not math.isfinite(number):
            raise ValueError(f"size {value!r} has too many digits; {SIZE_HELP}")
        size = int(number)
    else:
        raise ValueError(f"expected a size; {SIZE_HELP}")
    if size <= 0:
        raise ValueError(f"size {value!r} must be more than zero; {SIZE_HELP}")
    if size > MAX_SIZE:
        raise ValueError(
            f"size {value!r} is larger than the maximum of {MAX_SIZE} bytes (8 EiB, "
            "the largest size libcurl accepts); write a smaller size"
        )
    return size
