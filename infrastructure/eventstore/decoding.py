"""Stored events back into domain events, as eventsourcing's mapper does, faster.

A rebuild replays every event, and profiling showed 40–55 % of it in the mapper: the
standard library's JSON decoder calls a Python hook for every object, and the hook
builds each custom value (AuditStamp, enums, versions) afresh. Here msgspec parses
the JSON in C, only the tagged objects (`{"_type_": …, "_data_": …}`) are walked in
Python and decoded by the *same* transcodings the application registered, and the
immutable ones that repeat in nearly every event (audit stamps, enums) are memoised.
The result is the mapper's own: the same event class, the same `__dict__`.

Anything this path does not know falls back to `mapper.to_domain_event`: a cipher or
compressor, another transcoder, a topic to upcast, JSON that msgspec reads
differently from the standard library (it refuses NaN, lone surrogates and
out-of-range floats rather than guess), an unregistered tag. See ADR 0018.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from enum import Enum
from typing import Any, cast

import msgspec
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, find_id_convertor
from eventsourcing.utils import resolve_topic

# Tags whose decoded values are immutable and repeat across events: safe to share.
MEMOISED = frozenset({"audit", "actor_kind", "secret_type"})
MEMO_LIMIT = 4096  # per tag; a memo past it starts again (bounded memory)

Decode = Callable[[Any], Any]


class _Unknown(Exception):
    """The fast path cannot vouch for this event: use the mapper."""


class _Memo:
    """Decode once per distinct input. Only inputs made of strings, None and plain
    enum members are keyed: equal keys then mean identical inputs (no 1 == True)."""

    def __init__(self, decode: Decode) -> None:
        self.decode = decode
        self.seen: dict[Hashable, Any] = {}

    def __call__(self, data: Any) -> Any:
        key = _key(data)
        if key is None:
            return self.decode(data)
        try:
            return self.seen[key]
        except KeyError:
            pass
        # The transcoding may consume its input (SecretVersionAsDict pops): copy first.
        value = self.decode(dict(data) if type(data) is dict else data)
        if len(self.seen) >= MEMO_LIMIT:
            self.seen.clear()
        self.seen[key] = value
        return value


EXACT_TYPES: set[type] = {str, type(None)}  # plus plain enums, as they are met


def _exact(kind: type) -> bool:
    """Whether values of `kind` equal only values of the same kind (no 1 == True == 1.0):
    str, None and members of enums that are not also str, int or float."""
    if kind in EXACT_TYPES:
        return True
    if issubclass(kind, Enum) and not issubclass(kind, str | int | float):
        EXACT_TYPES.add(kind)
        return True
    return False


def _key(data: Any) -> Hashable | None:
    if type(data) is str:
        return data
    if type(data) is dict and (
        EXACT_TYPES.issuperset(map(type, data.values()))
        or all(map(_exact, map(type, data.values())))
    ):
        return tuple(data.items())
    return None


class EventDecoder:
    """`decode(topic, state, originator_id, originator_version)` -> domain event,
    equal to `mapper.to_domain_event` of the same stored event."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        self.fast = (
            mapper.cipher is None
            and mapper.compressor is None
            and isinstance(transcoder, JSONTranscoder)
            and type(transcoder).decode is JSONTranscoder.decode
            and type(transcoder)._decode_obj is JSONTranscoder._decode_obj
        )
        names = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        self.tags: dict[str, Decode] = {
            name: _Memo(t.decode) if name in MEMOISED else t.decode for name, t in names.items()
        }
        self.classes: dict[str, type | None] = {}
        self.fallbacks = 0  # events the mapper decoded (tests check the fast path ran)
        self._json = msgspec.json.Decoder()

    def __call__(
        self, topic: str, state: bytes, originator_id: Any, originator_version: int
    ) -> Any:
        if self.fast:
            try:
                return self._decode(topic, state, originator_id, originator_version)
            except Exception:  # noqa: S110 - the mapper decides, and raises its own error
                pass
        self.fallbacks += 1
        stored = StoredEvent(originator_id, originator_version, topic, state)
        return self.mapper.to_domain_event(stored)

    def _class(self, topic: str) -> type:
        try:
            cls = self.classes[topic]
        except KeyError:
            cls = resolve_topic(topic)
            if getattr(cls, "class_version", 1) != 1:
                cls = None  # upcasting stays with the mapper
            self.classes[topic] = cls
        if cls is None:
            raise _Unknown(topic)
        return cls

    def _decode(self, topic: str, state: bytes, originator_id: Any, originator_version: int) -> Any:
        cls = self._class(topic)
        event_state = self._walk(self._json.decode(state))
        if type(event_state) is not dict or "class_version" in event_state:
            raise _Unknown(topic)
        convert = find_id_convertor(cls, cast(Hashable, type(originator_id)))
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    def _walk(self, value: Any) -> Any:
        """What JSONTranscoder's object hook makes of `value` (a dict or a list):
        inner objects first, then a tagged object becomes its registered type."""
        if type(value) is list:
            for i, item in enumerate(value):
                if type(item) is dict or type(item) is list:
                    value[i] = self._walk(item)
            return value
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = self._walk(item)
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return self.tags[value["_type_"]](value["_data_"])
        return value
