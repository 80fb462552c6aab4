"""Real-time path: Kafka events -> per-user online features in Redis -> real-time churn scores.

Modules: ``config`` (the ``streaming:`` params section + env overrides), ``schema`` (versioned
event schema and validation), ``features`` (the one definition of the online features, used by
the stream and by the batch computation), ``broker`` (local Tansu broker), ``clients`` (adapter
over confluent-kafka and kafka-python), ``replayer``, ``scoring`` (champion bundle per
micro-batch), ``job`` (the consumer-group feature job), ``deadletters`` (bounded dead letters,
retry, parking), ``tracing`` (W3C trace context through Kafka headers), ``metrics`` (Prometheus).
See docs/streaming.md.
"""
