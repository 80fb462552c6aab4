# Airflow in its own environment (its attrs>=24.2 conflicts with alibi's attrs<24); DAG tasks
# call the project's interpreter (/app/.venv) exactly as on a developer machine.
#   docker build -f docker/airflow.Dockerfile -t churnguard-airflow:dev .   (after the project image)
# Components run one per container (docker/compose.yaml, deploy/helm/airflow-values.yaml), as
# scripts/airflow.sh runs them; `airflow standalone` is not used (its log servers bind every interface).
ARG PROJECT_IMAGE=churnguard:dev
FROM ${PROJECT_IMAGE}
USER root
COPY requirements/airflow.lock.txt requirements/airflow.lock.txt
RUN python -m venv /app/.venv-airflow && /app/.venv-airflow/bin/pip install -q -U "pip<27" \
 && /app/.venv-airflow/bin/pip install -q -r requirements/airflow.lock.txt
COPY dags/ dags/
RUN mkdir -p /app/airflow/logs && chown -R churnguard /app
USER churnguard
ENV PATH=/app/.venv-airflow/bin:$PATH AIRFLOW_HOME=/app/airflow AIRFLOW__CORE__DAGS_FOLDER=/app/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__PARALLELISM=4
EXPOSE 8080
CMD ["airflow", "api-server", "--host", "0.0.0.0", "--port", "8080"]
