"""Model operations: the MLflow registry, promotion through gates, glue the Airflow DAGs call."""
