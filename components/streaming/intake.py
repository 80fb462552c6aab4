"""The first step of a micro-batch, pure: Kafka records -> valid events, dead letters, next offsets.

An event is refused (a dead letter with the reason, see deadletters.py) when it does not decode
(schema.py) or when its event time is outside the job's clock window: more than
``max_future_skew_s`` ahead (``future``) or more than ``max_event_age_s`` behind (``too_old``);
0 turns a guard off. Every record, refused or not, moves its partition's next offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from churnguard.streaming.clients import Record
from churnguard.streaming.config import StreamingConfig
from churnguard.streaming.deadletters import Letter, event_letter, invalid_letter
from churnguard.streaming.schema import Event, InvalidEvent, decode


@dataclass
class Intake:
    events: list[Event] = field(default_factory=list)
    sources: list[Record] = field(default_factory=list)  # the record of each event
    letters: list[Letter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset per partition


def decode_batch(records: list[Record], cfg: StreamingConfig, now_ms: float) -> Intake:
    out = Intake()
    newest = now_ms + cfg.max_future_skew_s * 1000.0 if cfg.max_future_skew_s else math.inf
    oldest = now_ms - cfg.max_event_age_s * 1000.0 if cfg.max_event_age_s else -math.inf
    preview = cfg.dead_letter_preview_bytes
    for r in records:
        out.offsets[(r.topic, r.partition)] = r.offset + 1
        try:
            e = decode(r.value)
        except InvalidEvent as exc:
            out.letters.append(invalid_letter(r, str(exc), preview))
            continue
        except Exception as exc:  # a decoder bug must not stop the stream: the event is parked as invalid
            out.letters.append(invalid_letter(r, f"could not decode ({type(exc).__name__})", preview))
            continue
        if not oldest <= e.ts <= newest:
            out.letters.append(clock_letter(r, e, now_ms, cfg))
            continue
        out.events.append(e)
        out.sources.append(r)
    return out


def clock_letter(r: Record, e: Event, now_ms: float, cfg: StreamingConfig) -> Letter:
    if e.ts > now_ms:
        reason = (
            f"field 'ts' is {e.ts - now_ms:.0f} ms ahead of the job's clock "
            f"(max_future_skew_s = {cfg.max_future_skew_s:g})"
        )
        return event_letter("future", reason, r, e, clock_ms=int(now_ms))
    reason = (
        f"field 'ts' is {now_ms - e.ts:.0f} ms older than the job's clock (max_event_age_s = {cfg.max_event_age_s:g})"
    )
    return event_letter("too_old", reason, r, e, clock_ms=int(now_ms))
