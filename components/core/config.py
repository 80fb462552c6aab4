"""Project paths and params.yaml access.

Every path is relative to the repository root (or to ``CHURNGUARD_HOME`` when set), so the
project never depends on where it is checked out.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(os.environ.get("CHURNGUARD_HOME", Path(__file__).resolve().parents[2]))


class _Folder:
    """A folder of :class:`Paths`: ``root / parts`` of the instance it is read from."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, paths: Paths | None, owner: type | None = None) -> Path:
        if paths is None:
            raise AttributeError("a Paths folder is read from an instance")
        return paths.root.joinpath(*self.parts)


@dataclass(frozen=True)
class Paths:
    """Where each stage reads and writes; one place so stages and tests agree."""

    root: Path = ROOT
    raw = _Folder("data", "raw")
    truth = _Folder("data", "truth")  # ground truth of the synthetic world: only evaluation code may read it
    validated = _Folder("data", "validated")
    features = _Folder("data", "features")
    models = _Folder("models")
    metrics = _Folder("metrics")
    plots = _Folder("plots")
    reports = _Folder("reports")


PATHS = Paths()
T = TypeVar("T")


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read the whole params.yaml (default: the repository's)."""
    with open(path or ROOT / "params.yaml") as fh:
        return yaml.safe_load(fh)


def section(name: str, path: Path | None = None) -> dict[str, Any]:
    """Read one section of params.yaml: a stage reads only its own."""
    params = load_params(path)
    if name not in params:
        raise KeyError(f"params.yaml has no section {name!r}")
    return params[name]


def load_services(path: Path | None = None) -> dict[str, Any]:
    """Read services.yaml: settings of serving, streaming and orchestration (no DVC stage reads them)."""
    path = path or ROOT / "services.yaml"
    if not path.exists():
        return {}
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def service_section(name: str, path: Path | None = None) -> dict[str, Any]:
    """One section of services.yaml ({} when the file or the section is absent: the code's defaults apply)."""
    return load_services(path).get(name) or {}


def deep_merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, nested dicts merged key by key (neither is modified)."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(path: str | Path) -> Path:
    """Resolve a params path relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


class ConfigError(ValueError):
    """A params section that does not fit its typed config; the message names the dotted key."""


def build(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """A frozen dataclass ``cls`` from one params mapping, checked once, at the start of a stage.

    Nested dataclasses, ``dict[str, X]``, ``list[X]``/``tuple[X, ...]`` and ``X | None`` fields are
    built recursively. An unknown key (with the closest known one), a missing required key or a
    value of the wrong type raises :class:`ConfigError` naming ``where.key``, so a typo in
    params.yaml stops the stage with the setting to fix instead of being silently ignored.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__} {data!r:.60}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        named = [
            f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(str(k), fields, 1)) else repr(k)
            for k in unknown
        ]
        raise ConfigError(f"{where}: unknown key {', '.join(named)}; known keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name}: required setting is missing")
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r:.60} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r:.60} is not one of {', '.join(map(repr, args))}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        key_t, val_t = args or (Any, Any)
        return {_coerce(key_t, k, where): _coerce(val_t, v, f"{where}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r:.60}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item_t = args[0] if args else Any
        items = [_coerce(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r:.60}")
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and value != int(value)):
            raise ConfigError(f"{where}: expected {'an integer' if tp is int else 'a number'}, got {value!r:.60}")
        return tp(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, got {value!r:.60}")
        return str(value)
    return value


def load_section(name: str, cls: type[T], path: Path | None = None) -> T:
    """One params.yaml section as its typed config (see :func:`build`)."""
    return build(cls, section(name, path), name)
