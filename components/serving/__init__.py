"""The serving job: a FastAPI app that follows ``models:/churnguard@champion``.

- :mod:`components.serving.config`     the ``serving:`` section of params.yaml + environment overrides
- :mod:`components.serving.holder`     loads the champion, polls the alias, swaps atomically
- :mod:`components.serving.integrity`  artifact digest check before a version is unpickled
- :mod:`components.serving.features`   batch features (parquet) + online features (Redis) behind a circuit breaker
- :mod:`components.serving.security`   API keys, the per-key rate limit, the failed-key throttle per client
- :mod:`components.serving.guard`      ASGI guard: throttle, key, rate limit, body limit, before the body is read
- :mod:`components.serving.validation` feature bounds, 422 bodies that never echo the input
- :mod:`components.serving.rows`       merge batch < online < request features; imputed and required features
- :mod:`components.serving.routes`     the HTTP routes (spans per request)
- :mod:`components.serving.metrics`    Prometheus metrics and the request-timing middleware
- :mod:`components.serving.schemas`    pydantic request/response models (the OpenAPI spec)
- :mod:`components.serving.app`        ``create_app``: wires the above

See docs/serving.md and docs/security.md.
"""
