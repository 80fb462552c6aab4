"""Distributed batch jobs on existing engines (Apache Spark): scoring and the scenario sweep at any scale.

The feature engines (pandas, DuckDB, Spark SQL) live in :mod:`churnguard.features.engines`; this package
runs the model side per partition, calling the bundle and the interventions part unchanged.
"""
