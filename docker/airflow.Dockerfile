# Airflow in its own environment (its attrs>=24.2 conflicts with alibi's attrs<24); DAG tasks
# call the project's interpreter (/app/.venv) exactly as on a developer machine.
#   docker build -f docker/airflow.Dockerfile -t churnguard-airflow .
ARG PROJECT_IMAGE=churnguard:latest
FROM ${PROJECT_IMAGE}
USER root
COPY requirements/airflow.lock.txt requirements/airflow.lock.txt
RUN python -m venv /app/.venv-airflow && /app/.venv-airflow/bin/pip install -q -U "pip<27" \
 && /app/.venv-airflow/bin/pip install -q -r requirements/airflow.lock.txt
COPY dags/ dags/
RUN chown -R churnguard /app
USER churnguard
ENV AIRFLOW_HOME=/app/airflow AIRFLOW__CORE__DAGS_FOLDER=/app/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__PARALLELISM=4
EXPOSE 8080
CMD ["/app/.venv-airflow/bin/airflow", "standalone"]
