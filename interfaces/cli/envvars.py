"""Secrets as environment variables: names, structured flattening, env/dotenv rendering.

Pure functions; the naming matches the SDK's `export()`: upper-case, every run of
characters outside [A-Z0-9] becomes one "_", leading/trailing "_" are dropped, and a
structured secret becomes NAME_FIELD per field.
"""

from __future__ import annotations

import json
import re
import shlex
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


class VariableError(ValueError):
    """A variable a format cannot carry exactly: the whole export is refused, nothing printed."""


# What sh and bash accept after `export`, and what docker compose keeps (it drops
# names starting with a digit).
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# In single-quoted dotenv python-dotenv reads `\\` as one backslash and docker compose as
# two; a trailing backslash escapes the closing quote in both.
_AMBIGUOUS_BACKSLASH = re.compile(r"\\(?:\\|\Z)")


def check_environ(pairs: Iterable[tuple[str, str]]) -> None:
    """What any environment can carry (`run`): a name without "=", no NUL anywhere."""
    for name, value in pairs:
        if not name or "=" in name or "\0" in name:
            raise VariableError(
                f"{name!r} cannot be an environment variable name (a secret name with no "
                "letters or digits, or a bad --prefix)"
            )
        if "\0" in value:
            raise VariableError(
                f"The value of {name} holds a NUL byte, which no environment can carry"
            )


def _check_shell(name: str, value: str) -> None:
    check_environ([(name, value)])
    if not _SHELL_NAME.fullmatch(name):
        raise VariableError(
            f"{name} is not a shell variable name (it must not start with a digit): rename the "
            "secret or use --format json"
        )


def shell_assignment(name: str, value: str) -> str:
    """`NAME='value'` (the product's `K=v`): POSIX single quotes, so sh, dash and bash
    expand nothing; plain values stay unquoted, as `docker run --env-file` wants them."""
    _check_shell(name, value)
    return f"{name}={shlex.quote(value)}\n"


def dotenv_quote(value: str) -> str:
    """A dotenv value python-dotenv and docker compose read back as exactly `value`, and
    that runs nothing when a POSIX shell sources the file.

    Without `$` and backticks: double quotes, escaping backslash, quote, LF and CR (both
    parsers decode these; a shell keeps `\\n` as is). Otherwise single quotes, where
    neither parser nor a shell expands anything and no escape exists: a `'` there, a CR
    (python-dotenv reads files with universal newlines) or a backslash the parsers read
    differently has no safe exact spelling, so `VariableError`.
    """
    if "$" not in value and "`" not in value:
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
        return f'"{escaped}"'
    if "'" in value or "\r" in value or _AMBIGUOUS_BACKSLASH.search(value):
        raise VariableError(
            "cannot be written as dotenv that python-dotenv and docker compose read back "
            "exactly and a shell sources safely (a $ or ` together with a ', a carriage "
            "return, a doubled backslash or a trailing one): use --format env or json"
        )
    return f"'{value}'"


def dotenv_assignment(name: str, value: str) -> str:
    _check_shell(name, value)
    try:
        return f"{name}={dotenv_quote(value)}\n"
    except VariableError as exc:
        raise VariableError(f"The value of {name} {exc}") from None


def render(pairs: Iterable[tuple[str, str]], fmt: str) -> str:
    """`env` (K='v'), `dotenv` (K="v") or `json` (one object); later names win.

    Raises `VariableError` before anything is written when a variable does not fit.
    """
    mapping = dict(pairs)
    if fmt == "json":
        return json.dumps(mapping, indent=2) + "\n"
    line = dotenv_assignment if fmt == "dotenv" else shell_assignment
    return "".join(line(k, v) for k, v in mapping.items())


def masked(pairs: Iterable[tuple[str, str]], show_values: bool) -> str:
    return "".join(f"{k}={v if show_values else '****'}\n" for k, v in dict(pairs).items())
