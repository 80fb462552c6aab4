"""The serving job: a FastAPI app that follows ``models:/churnguard@champion``.

- :mod:`churnguard.serving.config`     the ``serving:`` section of services.yaml (typed, frozen) + environment
- :mod:`churnguard.serving.holder`     loads the champion, polls the alias, swaps atomically
- :mod:`churnguard.serving.integrity`  artifact digest check before a version is unpickled
- :mod:`churnguard.serving.features`   batch features (parquet) + online features (Redis) behind a circuit breaker
- :mod:`churnguard.serving.security`   API keys, the per-key rate limit, the failed-key throttle per client
- :mod:`churnguard.serving.guard`      ASGI guard: throttle, key, rate limit, body limit, before the body is read
- :mod:`churnguard.serving.validation` feature bounds, 422 bodies that never echo the input
- :mod:`churnguard.serving.rows`       merge batch < online < request features; imputed and required features
- :mod:`churnguard.serving.routes`     the HTTP routes (spans per request)
- :mod:`churnguard.serving.traffic`    champion/challenger: none, shadow or A/B; per-arm metrics
- :mod:`churnguard.serving.shadow`     the shadow process scoring the challenger off the hot path
- :mod:`churnguard.serving.arms`       sticky A/B assignment, the arm log
- :mod:`churnguard.serving.metrics`    Prometheus metrics and the request-timing middleware
- :mod:`churnguard.serving.schemas`    pydantic request/response models (the OpenAPI spec)
- :mod:`churnguard.serving.app`        ``create_app``: wires the above

See docs/serving.md and docs/security.md.
"""
