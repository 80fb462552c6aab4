"""Online features of an event stream replayed in-process: the streaming job's feature logic, no broker.

Each event is validated as the job validates a Kafka message (:func:`churnguard.streaming.schema.validate`)
and applied to its user's :class:`~churnguard.streaming.features.UserState` in the order given, so the
job's late and duplicate rules hold (an event older than the user's watermark minus the allowed
lateness is late and not applied; an event id seen again is a duplicate). The job's wall-clock guards
(``max_future_skew_s``, ``max_event_age_s``) are not applied: a replay of history is the point.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import pandas as pd

from churnguard.api.errors import FieldError, InvalidInput
from churnguard.api.results import FeatureReplay
from churnguard.streaming.features import APPLIED, DUPLICATE, ONLINE_FEATURES, FeatureParams, UserState
from churnguard.streaming.schema import FIELDS, SCHEMA_VERSION, InvalidEvent, validate

EventsLike: TypeAlias = pd.DataFrame | Iterable[Mapping[str, Any]]
_FIELD = re.compile(r"field '(\w+)'")


def feature_params(
    window_s: float | None, allowed_lateness_s: float | None, session_retention_s: float | None
) -> FeatureParams:
    """Explicit values, else services.yaml ``streaming:`` (else the job's defaults)."""
    from churnguard.streaming.config import StreamingConfig

    cfg = StreamingConfig.from_params()
    return FeatureParams(
        cfg.window_s if window_s is None else window_s,
        cfg.allowed_lateness_s if allowed_lateness_s is None else allowed_lateness_s,
        cfg.session_retention_s if session_retention_s is None else session_retention_s,
    )


def records(events: EventsLike) -> list[dict[str, Any]]:
    """Events as dicts of Python values (a DataFrame needs the columns of ``churnguard.world.EVENT_SCHEMA``)."""
    if isinstance(events, pd.DataFrame):
        missing = [f for f in FIELDS if f not in events.columns]
        if missing:
            raise InvalidInput.one(f"events.{missing[0]}", f"the events frame has no {missing[0]!r} column")
        columns = [events[f].tolist() for f in FIELDS]
        return [dict(zip(FIELDS, row)) for row in zip(*columns)]
    if isinstance(events, Mapping):
        return [dict(events)]
    return [dict(e) for e in events]


def replay(events: EventsLike, params: FeatureParams) -> FeatureReplay:
    """Validate every event (all invalid ones are reported, naming the field), then apply them in order."""
    parsed, errors = [], []
    for i, obj in enumerate(records(events)):
        try:
            parsed.append(validate({"v": SCHEMA_VERSION, **obj}))
        except InvalidEvent as exc:
            found = _FIELD.search(str(exc))
            errors.append(FieldError(f"events[{i}]" + (f".{found[1]}" if found else ""), str(exc)))
    if errors:
        raise InvalidInput(errors)
    states: dict[str, UserState] = {}
    counts = {APPLIED: 0, DUPLICATE: 0}
    late = 0
    for e in parsed:
        state = states.get(e.user_id)
        if state is None:
            state = states[e.user_id] = UserState()
        outcome = state.apply(e, params)
        if outcome in counts:
            counts[outcome] += 1
        else:
            late += 1
    rows = {user: state.features(params) for user, state in states.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=ONLINE_FEATURES)
    frame.index.name = "user_id"
    return FeatureReplay(frame, counts[APPLIED], counts[DUPLICATE], late)
