"""Secrets as environment variables: names, structured flattening, env/dotenv rendering.

Pure functions; the naming matches the SDK's `export()`: upper-case, every run of
characters outside [A-Z0-9] becomes one "_", leading/trailing "_" are dropped, and a
structured secret becomes NAME_FIELD per field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

_NOT_NAME = re.compile(r"[^A-Z0-9]+")


def env_name(name: str) -> str:
    return _NOT_NAME.sub("_", name.upper()).strip("_")


def parse_fields(value: str) -> dict[str, Any] | None:
    """The object a structured value holds, or None when it is not a JSON object."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def variables(base: str, value: str, structured: bool) -> list[tuple[str, str]]:
    """The (name, value) pairs one secret contributes under the env name `base`."""
    if structured:
        fields = parse_fields(value)
        if fields:
            return [(f"{base}_{env_name(str(k))}", field_text(v)) for k, v in fields.items()]
    return [(base, value)]


def flatten(entries: Iterable[Mapping[str, Any]], prefix: str = "") -> list[tuple[str, str]]:
    """Export entries ({name, value, fieldNames}) to (NAME, value) pairs, in order."""
    out: list[tuple[str, str]] = []
    for entry in entries:
        base = prefix + env_name(str(entry["name"]))
        out.extend(variables(base, str(entry["value"]), entry.get("fieldNames") is not None))
    return out


def by_id_name(secret_id: str, prefix: str = "") -> str:
    """The variable for a secret picked by id: sk_ab12 → SK_AB12 (ab12 → SK_AB12 too)."""
    name = env_name(secret_id)
    return prefix + (name if name.startswith("SK_") else f"SK_{name}")


def duplicates(pairs: Iterable[tuple[str, str]]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for name, _value in pairs:
        if name in seen and name not in dup:
            dup.append(name)
        seen.add(name)
    return dup


def dotenv_quote(value: str) -> str:
    """A dotenv value that reads back as exactly `value`.

    Single quotes when the value holds a `$` (python-dotenv and docker compose expand
    `${VAR}` inside double quotes, and have no common escape for it) and can be single
    quoted; otherwise double quotes with backslash, quote and line breaks escaped.
    """
    if "$" in value and not any(c in value for c in "'\n\r"):
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def render(pairs: Iterable[tuple[str, str]], fmt: str) -> str:
    """`env` (K=v), `dotenv` (K="v") or `json` (one object); later names win."""
    mapping = dict(pairs)
    if fmt == "json":
        return json.dumps(mapping, indent=2) + "\n"
    if fmt == "dotenv":
        return "".join(f"{k}={dotenv_quote(v)}\n" for k, v in mapping.items())
    return "".join(f"{k}={v}\n" for k, v in mapping.items())


def masked(pairs: Iterable[tuple[str, str]], show_values: bool) -> str:
    return "".join(f"{k}={v if show_values else '****'}\n" for k, v in dict(pairs).items())
