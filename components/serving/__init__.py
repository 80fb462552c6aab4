"""The serving job: a FastAPI app that follows ``models:/churnguard@champion``.

- :mod:`components.serving.config`   the ``serving:`` section of params.yaml + environment overrides
- :mod:`components.serving.holder`   loads the champion, polls the alias, swaps atomically
- :mod:`components.serving.features` batch features (parquet) + online features (Redis) behind a circuit breaker
- :mod:`components.serving.security` API keys and the per-key rate limit
- :mod:`components.serving.schemas`  pydantic request/response models (the OpenAPI spec)
- :mod:`components.serving.app`      the FastAPI application (``create_app``)

See docs/serving.md.
"""
