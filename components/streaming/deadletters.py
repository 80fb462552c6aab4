"""Dead letters: bounded, and never able to stop the job.

A dead letter never carries the whole payload: only its size, sha256, and the first
``preview_bytes`` bytes (decoded with backslash escapes, so control characters and invalid
UTF-8 stay readable and the letter stays a few hundred bytes whatever came in). The record key
travels only when it is short; otherwise its size and hash do.

Sending: every letter is produced with a delivery callback; a letter whose produce raises
(``MSG_SIZE_TOO_LARGE``, a full queue, ...) or whose delivery fails is counted
(``churnguard_stream_produce_errors_total{topic="dead_letter"}``) and retried once in its
minimal form (no preview); one that still fails is *parked*: returned to the job, which writes
it to a Redis list in its own key space (``online_store.parked_key``) in the same transaction as
the offsets (``churnguard_stream_dead_letters_parked_total``). Either way the job goes on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

KEY_MAX = 256  # bytes of a record key kept on its dead letter


@dataclass
class Letter:
    kind: str  # invalid | late | future | too_old
    key: bytes | None
    value: bytes  # the full (bounded) letter
    minimal: bytes  # the same without the preview: the retry
    delivered: bool = False
    error: str | None = None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def payload_summary(raw: bytes | None, preview_bytes: int) -> dict[str, Any]:
    raw = raw or b""
    return {
        "size": len(raw),
        "sha256": _digest(raw),
        "preview": raw[:preview_bytes].decode("utf-8", "backslashreplace"),
        "truncated": len(raw) > preview_bytes,
    }


def _key_fields(key: bytes | str | None) -> tuple[bytes | None, dict[str, Any]]:
    if key is None:
        return None, {}
    raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key
    if len(raw) <= KEY_MAX:
        return raw, {}
    return None, {"key_size": len(raw), "key_sha256": _digest(raw)}


def invalid_letter(rec: Any, reason: str, preview_bytes: int) -> Letter:
    """A record that could not be decoded/validated (``rec``: a clients.Record)."""
    key, key_info = _key_fields(rec.key)
    base = {
        "kind": "invalid",
        "reason": reason,
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        **key_info,
    }
    full = {**base, **payload_summary(rec.value, preview_bytes)}
    minimal = {**base, **payload_summary(rec.value, 0)}
    minimal.pop("preview")
    return Letter("invalid", key, orjson.dumps(full), orjson.dumps(minimal))


def event_letter(kind: str, reason: str, rec: Any, event: Any, **extra: Any) -> Letter:
    """A valid event the job refuses by time (late, future, too_old): the event itself is small."""
    body = {
        "kind": kind,
        "reason": reason,
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "event": event._asdict(),
        **extra,
    }
    value = orjson.dumps(body)
    return Letter(kind, event.user_id.encode(), value, value)


class DeadLetterSender:
    """Produce a batch's letters; return those that could not be delivered (to park)."""

    def __init__(self, producer: Any, topic: str, metrics: Any):
        self.producer, self.topic, self.metrics = producer, topic, metrics

    def _produce(self, letter: Letter, value: bytes) -> None:
        def delivered(err: Any, _msg: Any = None) -> None:
            letter.delivered = err is None
            letter.error = None if err is None else str(err)[:200]

        letter.delivered, letter.error = False, None
        try:
            self.producer.produce(self.topic, value, letter.key, on_delivery=delivered)
        except Exception as exc:  # KafkaException(MSG_SIZE_TOO_LARGE), BufferError, MessageSizeTooLargeError...
            letter.error = f"{type(exc).__name__}: {exc}"[:200]

    def _failed(self, letters: list[Letter], flush_s: float) -> list[Letter]:
        self.producer.flush(flush_s)
        failed = [x for x in letters if not x.delivered]
        if failed:
            self.metrics.produce_errors.labels("dead_letter").inc(len(failed))
        return failed

    def send(self, letters: list[Letter], flush_s: float = 30.0) -> list[Letter]:
        if not letters:
            return []
        for x in letters:
            self._produce(x, x.value)
        failed = self._failed(letters, flush_s)
        for x in failed:
            self._produce(x, x.minimal)
        parked = self._failed(failed, flush_s) if failed else []
        if parked:
            self.metrics.parked.inc(len(parked))
        return parked


def parked_record(letter: Letter) -> bytes:
    """What the job stores in Redis for a parked letter: the minimal letter and why it failed."""
    return orjson.dumps({"letter": orjson.loads(letter.minimal), "error": letter.error})
