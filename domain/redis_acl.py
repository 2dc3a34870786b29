"""The Redis ACL rules a managed user is created with (`options["aclRules"]`).

The default leaves out @admin and @dangerous: with `+@all` an application's
credential could `ACL SETUSER` itself a second user that no rotation ever removes.
An operator may narrow (or widen) the rules, but only with rules that describe
*reach*: anything that sets a password, switches the user on or off or resets it
is refused, because the agent owns those. The rules travel as separate `ACL SETUSER`
arguments, so one rule can never smuggle in another.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInput

OPTION = "aclRules"
DEFAULT_RULES = ("+@all", "-@admin", "-@dangerous", "~*", "&*")
MAX_RULES = 64

_KEYWORDS = frozenset(
    {"allkeys", "allchannels", "allcommands", "nocommands", "resetkeys", "resetchannels"}
)
_NAME = r"[A-Za-z][A-Za-z0-9_.\-]{0,63}"
# Printable ASCII without whitespace: a glob for keys or channels.
_PATTERN = r"[!-~]{1,256}"
_GRAMMAR = (
    re.compile(rf"[+-]@{_NAME}"),  # +@read, -@dangerous
    re.compile(rf"[+-]{_NAME}(\|[A-Za-z0-9_.\-]{{1,64}})?"),  # +get, -config|set
    re.compile(rf"(%(R|W|RW))?~{_PATTERN}"),  # ~app:*, %R~cache:*
    re.compile(rf"&{_PATTERN}"),  # &news.*
)
HELP = (
    "it takes space-separated Redis ACL rules: +@category, -@category, "
    "+command, -command, +command|sub, ~pattern, %R~pattern, %W~pattern, %RW~pattern, "
    "&pattern, allkeys, allchannels, allcommands, nocommands, resetkeys, resetchannels "
    "(no passwords, on/off, reset or selectors: the agent owns those)"
)


def _allowed(rule: str) -> bool:
    return rule.lower() in _KEYWORDS or any(g.fullmatch(rule) for g in _GRAMMAR)


def parse_rules(text: str) -> tuple[str, ...]:
    """The rules in `text`, each checked against the allowlisted grammar.

    The refusal names a rule by position only: a mistyped rule may be a password.
    """
    rules = tuple(text.split())
    if not rules:
        raise InvalidInput(f"aclRules is empty; {HELP}")
    if len(rules) > MAX_RULES:
        raise InvalidInput(f"aclRules may hold at most {MAX_RULES} rules")
    for position, rule in enumerate(rules, start=1):
        if not _allowed(rule):
            raise InvalidInput(f"aclRules: rule {position} is not allowed; {HELP}")
    return rules


def rules_for(options: dict[str, str]) -> tuple[str, ...]:
    """The rules a new managed user gets: the operator's, else the safe default."""
    text = options.get(OPTION)
    return DEFAULT_RULES if text is None else parse_rules(text)
