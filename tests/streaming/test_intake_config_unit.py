"""Pure logic: the typed streaming config and a micro-batch's intake (no services)."""

from __future__ import annotations

import orjson
import pytest

from churnguard.core.config import ConfigError
from churnguard.streaming.clients import Record
from churnguard.streaming.config import StreamingConfig
from churnguard.streaming.intake import decode_batch
from churnguard.streaming.schema import encode

NOW = 1_782_777_600_000.0  # the job's clock in these tests (2026-06-30)


def record(offset: int, value: bytes, partition: int = 0) -> Record:
    return Record("events", partition, offset, b"U1", value, int(NOW))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"batch_sise": 10}, r"streaming: unknown key 'batch_sise' \(did you mean 'batch_size'\?\)"),
        ({"partitions": "four"}, r"streaming\.partitions: expected an integer, got 'four'"),
        ({"client": "kafka"}, r"streaming\.client: 'kafka' is not one of 'confluent', 'kafka-python'"),
        ({"key_prefix": "cg:user"}, r"streaming\.key_prefix must end with ':'"),
        ({"max_future_skew_s": 120}, r"streaming\.max_future_skew_s \(120\.0\) must be <= allowed_lateness_s"),
        ({"batch_size": 0}, r"streaming\.batch_size must be at least 1"),
    ],
)
def test_config_refuses_what_cannot_work_and_names_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        StreamingConfig.from_params(section)


def test_config_layers_file_environment_and_overrides(monkeypatch):
    monkeypatch.setenv("CHURNGUARD_KAFKA_BOOTSTRAP", "kafka:9092")
    cfg = StreamingConfig.from_params({"bootstrap_servers": "file:9092", "batch_size": 7}, batch_size=None, ttl_s=9)
    assert (cfg.bootstrap_servers, cfg.batch_size, cfg.ttl_s) == ("kafka:9092", 7, 9)
    with pytest.raises(ConfigError, match="must end with ':'"):
        cfg.with_(key_prefix="nocolon")  # a changed copy is checked again


def test_intake_sorts_events_from_dead_letters_and_moves_every_offset():
    cfg = StreamingConfig.from_params({}, max_future_skew_s=60, max_event_age_s=3600)
    good = encode(1, "U1", 1, "click", int(NOW) - 1000, "home", 0.0)
    ahead = encode(2, "U1", 1, "click", int(NOW) + 61_000, "home", 0.0)
    old = encode(3, "U1", 1, "click", int(NOW) - 3_601_000, "home", 0.0)
    records = [record(0, good), record(1, b"{nope"), record(2, ahead), record(3, old), record(8, good, partition=1)]
    out = decode_batch(records, cfg, NOW)
    assert [e.event_id for e in out.events] == [1, 1] and [r.offset for r in out.sources] == [0, 8]
    assert [x.kind for x in out.letters] == ["invalid", "future", "too_old"]
    assert "61000 ms ahead of the job's clock (max_future_skew_s = 60)" in orjson.loads(out.letters[1].value)["reason"]
    assert out.offsets == {("events", 0): 4, ("events", 1): 9}  # refused records move the offset too


def test_intake_guards_off_with_zero():
    cfg = StreamingConfig.from_params({}, max_future_skew_s=0, max_event_age_s=0)
    far = encode(1, "U1", 1, "click", 946_684_800_000, "home", 0.0)  # 2000-01-01: only the schema's bound
    assert [e.event_id for e in decode_batch([record(0, far)], cfg, NOW).events] == [1]
