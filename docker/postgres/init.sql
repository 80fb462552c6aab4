-- One PostgreSQL, two databases: MLflow's backend store and Airflow's metadata.
CREATE DATABASE mlflow;
CREATE DATABASE airflow;
