"""The serving config: typed, frozen, defaults in one place, unknown keys named, environment overrides."""

from __future__ import annotations

import dataclasses

import pytest

from churnguard.core.config import ROOT, ConfigError
from churnguard.serving.config import ServingConfig


def test_the_repository_services_yaml_builds_and_defaults_live_in_the_code(tmp_path):
    cfg = ServingConfig.from_params(env={})
    assert cfg.challenger.mode == "none" and cfg.redis.timeout_ms == 25.0 and cfg.batch_features_path.is_absolute()
    empty = tmp_path / "services.yaml"
    empty.write_text("serving: {}\n")
    assert ServingConfig.from_params(empty, env={}) == ServingConfig()  # no file values: the code's defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.port = 1  # type: ignore[misc]


def test_an_unknown_or_mistyped_key_names_the_dotted_key(tmp_path):
    path = tmp_path / "services.yaml"
    path.write_text("serving:\n  redis:\n    timout_ms: 10\n")
    with pytest.raises(ConfigError, match=r"serving\.redis: unknown key 'timout_ms' \(did you mean 'timeout_ms'\?\)"):
        ServingConfig.from_params(path, env={})
    with pytest.raises(ConfigError, match=r"serving\.challenger\.mode"):
        ServingConfig.from_params(env={}, overrides={"challenger": {"mode": "canary"}})
    with pytest.raises(ConfigError, match="ab_share"):
        ServingConfig.from_params(env={}, overrides={"challenger": {"ab_share": 1.5}})
    path.write_text("serving:\n  signing_key: s3cret\n")
    with pytest.raises(ConfigError, match="CHURNGUARD_MODEL_SIGNING_KEY"):
        ServingConfig.from_params(path, env={})


def test_environment_overrides_the_file_and_explicit_overrides_win():
    env = {
        "CHURNGUARD_API_KEYS": "k1, k2,",
        "CHURNGUARD_REDIS_URL": "",
        "CHURNGUARD_MODEL_URI": "models:/churnguard/3",
        "CHURNGUARD_MODEL_SIGNING_KEY": "key",
    }
    cfg = ServingConfig.from_params(env=env)
    assert cfg.auth.api_keys == ("k1", "k2") and cfg.redis_url is None
    assert cfg.model_uri == "models:/churnguard/3" and cfg.signing_key == "key"
    cfg = ServingConfig.from_params(
        env=env, overrides={"redis": {"url": "redis://h:1/0"}, "validation": {"required_features": "all"}}
    )
    assert cfg.redis_url == "redis://h:1/0" and cfg.validation.required_features == ("all",)
    assert ROOT.exists()


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "serving.md").read_text()

    def keys(cls, prefix=""):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or (
                isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory)
            ):
                yield from keys(f.default_factory, f"{prefix}{f.name}.")
            elif f.name != "signing_key":
                yield f"{prefix}{f.name}"

    missing = [k for k in keys(ServingConfig) if f"`{k}`" not in doc]
    assert not missing, f"docs/serving.md does not describe {missing}"
