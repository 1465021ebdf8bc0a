"""Read YAML scalars by the YAML 1.2 core schema and flag YAML 1.1 traps.

PyYAML resolves plain scalars by YAML 1.1, where ``yes`` is true, ``012`` is 10 and
``10:30`` is 630, while YAML 1.2 tools such as editors read the same text as a
string or a different number. Job files are read by both kinds of tool, so a plain
scalar that the two versions read differently is reported with a hint to quote it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

STR_TAG = "tag:yaml.org,2002:str"
# Explicit tags of these kinds are applied by PyYAML's safe constructors.
CONSTRUCTED_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}
# YAML 1.1 also lists y and n, but PyYAML and most parsers read those as strings.
_YAML11_BOOLS = {
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
}  # fmt: skip
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
# YAML 1.2 requires no sign in the exponent, but YAML 1.1 does: 1.0e3 is a string
# there, so only the signed form counts as a float that both versions agree on.
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+][0-9]+)?")
_FLOAT_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_FLOAT_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
# The YAML 1.1 forms below follow the regular expressions of PyYAML's resolver.
_OCTAL_11 = re.compile(r"[-+]?0[0-7_]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_SEXAGESIMAL = re.compile(
    r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
)
_YAML11_NUMBER = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|0o[0-7]+"
)
_YAML11_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?"
)

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# Every number and every YAML 1.1 trap except the boolean words starts with one
# of these, so most plain scalars skip the regular expressions.
_NUMERIC_START = frozenset("0123456789+-.")


def resolve_plain(text: str) -> tuple[Any, str | None]:
    """Return the value of a plain scalar and, for a YAML 1.1 trap, its message."""
    if text in _NULLS:
        return None, None
    if text in _TRUES:
        return True, None
    if text in _FALSES:
        return False, None
    if text[0] not in _NUMERIC_START:
        return text, yaml11_trap(text) if text in _YAML11_BOOLS else None
    try:
        number = _number(text)
    except ValueError:
        return text, (
            f"number {text[:20]}... has too many digits; quote it to keep it as text"
        )
    if number is not None:
        return number, None
    return text, yaml11_trap(text)


def _number(text: str) -> int | float | None:
    if _INT.fullmatch(text):
        return int(text)
    if _INT_HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _FLOAT_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _FLOAT_NAN.fullmatch(text):
        return math.nan
    return None


def construct_tagged(tag: str, text: str) -> Any:
    """Apply an explicit tag such as ``!!int``; raise ValueError when it does not fit.

    The message of the ValueError names the value and the tag.
    """
    node = yaml.ScalarNode(tag, text)
    construct = _CONSTRUCTOR.yaml_constructors[tag]
    try:
        return construct(_CONSTRUCTOR, node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, KeyError) as e:
        short = tag.rsplit(":", 1)[-1]
        raise ValueError(
            f"cannot read {text[:40]!r} as !!{short} ({type(e).__name__}); "
            "fix the value or remove the tag"
        ) from None


def yaml11_trap(text: str) -> str | None:
    """Describe how YAML 1.1 reads a plain scalar that YAML 1.2 reads differently."""
    quoted = f'"{text}"'
    if text in _YAML11_BOOLS:
        meaning = "true" if text.lower() in {"yes", "on"} else "false"
        return (
            f"unquoted {text} is read as {meaning} by YAML 1.1 parsers and as a "
            f"string by others; write {quoted} for a string or {meaning} for a boolean"
        )
    if _LEADING_ZERO.fullmatch(text):
        return _leading_zero(text, quoted)
    if _SEXAGESIMAL.fullmatch(text):
        return (
            f"unquoted {text} is read as a base-60 number by YAML 1.1 parsers "
            f"(10:30 becomes 630); write {quoted} to keep the text"
        )
    if _YAML11_TIMESTAMP.fullmatch(text):
        return (
            f"unquoted {text} is read as a date by YAML 1.1 parsers and as a string "
            f"by others; write {quoted}"
        )
    if _YAML11_NUMBER.fullmatch(text):
        return (
            f"unquoted {text} is read as a number by some YAML parsers and as a "
            f"string by others; write {quoted} for a string or a plain decimal number"
        )
    return None


def _leading_zero(text: str, quoted: str) -> str:
    digits = text.lstrip("+-")
    if len(digits) > 64:
        return f"unquoted number {text[:20]}... has a leading zero; quote it"
    plain = str(int(digits))
    if _OCTAL_11.fullmatch(text):
        return (
            f"unquoted {text} has a leading zero, so YAML 1.1 parsers read it as the "
            f"octal number {int(digits, 8)} and others as {plain}; write {quoted} "
            f"for a string or {plain} for a number"
        )
    return (
        f"unquoted {text} has a leading zero, so YAML 1.1 parsers read it as a "
        f"string and others as the number {plain}; write {quoted} for a string or "
        f"{plain} for a number"
    )
