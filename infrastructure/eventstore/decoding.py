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
out-of-range floats rather than guess), an unregistered tag. See ADR 0020.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, cast

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

# Tags whose decoded values are immutable and repeat across events: safe to share.
MEMOISED = frozenset({"audit", "actor_kind", "secret_type"})
MEMO_LIMIT = 4096  # per tag; a memo past it starts again (bounded memory)

Decode = Callable[[Any], Any]


class _Unknown(Exception):
    """The fast path cannot vouch for this event: use the mapper."""


class _Memo:
    """A tag whose value repeats is decoded once per distinct *stored* form.

    Keyed by the data as it came out of the JSON, before any inner tag is decoded:
    a string as is, anything else re-encoded to JSON bytes by msgspec (JSON-typed,
    so equal bytes mean identical data: `1`, `1.0` and `true` differ, as they should).
    """

    def __init__(self, walk: Decode, decode: Decode) -> None:
        self.walk = walk
        self.decode = decode
        self.seen: dict[str | bytes, Any] = {}
        self._encode = msgspec.json.Encoder().encode

    def __call__(self, data: Any) -> Any:
        key = data if type(data) is str else self._encode(data)
        try:
            return self.seen[key]
        except KeyError:
            pass
        if type(data) is dict or type(data) is list:
            data = self.walk(data)
        value = self.decode(data)
        if len(self.seen) >= MEMO_LIMIT:
            self.seen.clear()
        self.seen[key] = value
        return value


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
        # Each takes a tag's data as it came out of the JSON (inner tags not yet decoded).
        self.tags: dict[str, Decode] = {name: self._tag(name, t) for name, t in names.items()}
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

    def _tag(self, name: str, transcoding: Transcoding) -> Decode:
        if name in MEMOISED:
            return _Memo(self._walk, transcoding.decode)
        if type(transcoding) is DatetimeAsISO:  # in every event; its decode, minus an assert
            return datetime.fromisoformat
        decode = transcoding.decode

        def walked(data: Any) -> Any:
            return decode(self._walk(data) if type(data) is dict or type(data) is list else data)

        return walked

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
        fields = self._json.decode(state)
        if type(fields) is not dict or "class_version" in fields:
            raise _Unknown(topic)
        for key in [k for k, v in fields.items() if type(v) is dict or type(v) is list]:
            fields[key] = self._walk(fields[key])
        if len(fields) == 2 and "_type_" in fields and "_data_" in fields:
            raise _Unknown(topic)  # a whole state that is one tagged value
        convert = find_id_convertor(cls, cast(Hashable, type(originator_id)))
        fields["originator_id"] = convert(originator_id)
        fields["originator_version"] = originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        return event

    def _walk(self, value: Any) -> Any:
        """What JSONTranscoder's object hook makes of `value` (a dict or a list):
        inner objects first, then a tagged object becomes its registered type."""
        if type(value) is dict:
            if len(value) == 2 and type(value.get("_type_")) is str and "_data_" in value:
                return self.tags[value["_type_"]](value["_data_"])  # walks its data itself
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._walk(item)
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self.tags[value["_type_"]](value["_data_"])  # raises: the mapper's turn
            return value
        for i, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                value[i] = self._walk(item)
        return value
