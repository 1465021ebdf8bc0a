"""Expand ``${NAME}`` references to environment variables at run time.

``$${`` stands for a literal ``${``. A variable that is not set fails the job
with config_invalid, naming the variable; the value is never shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from runner.errors import JobConfigError

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PWD|KEY|AUTH|SIGNATURE|CREDENTIAL|COOKIE|SESSION", re.I
)


def split_references(text: str) -> list[tuple[str, bool]]:
    """Split text into literal pieces and referenced variable names, in order.

    Returns ``(piece, False)`` for literal text, where ``$${`` is already a
    literal ``${``, and ``(NAME, True)`` for each ``${NAME}``.
    """
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        literal = text[position : match.start()]
        if match.group(0) == "$${":
            literal += "${"
        if literal:
            parts.append((literal, False))
        if match.group(1) is not None:
            parts.append((match.group(1), True))
        position = match.end()
    if position < len(text):
        parts.append((text[position:], False))
    return _join_literals(parts)


def _join_literals(parts: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    joined: list[tuple[str, bool]] = []
    for piece, is_variable in parts:
        if joined and not is_variable and not joined[-1][1]:
            joined[-1] = (joined[-1][0] + piece, False)
        else:
            joined.append((piece, is_variable))
    return joined


class Expander:
    """Expand references from one environment and remember secret-looking values."""

    def __init__(self, environ: Mapping[str, str], owner: str) -> None:
        self.environ = environ
        self.owner = owner
        self.secret_values: set[str] = set()

    def expand(self, text: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name = match.group(1)
            if name not in self.environ:
                raise JobConfigError(
                    f"{self.owner}: variable {name} used in {where} is not set",
                    f"export {name} before running, or remove ${{{name}}} from {where}",
                )
            value = self.environ[name]
            if _SECRET_NAME.search(name) and value:
                self.secret_values.add(value)
            return value

        return _REFERENCE.sub(replace, text)

    def expand_json(self, value: object, where: str) -> object:
        """Expand references inside every string of a JSON body, keys included."""
        if isinstance(value, str):
            return self.expand(value, where)
        if isinstance(value, list):
            return [self.expand_json(item, where) for item in value]
        if isinstance(value, dict):
            return {
                self.expand(str(k), where): self.expand_json(v, where)
                for k, v in value.items()
            }
        return value
