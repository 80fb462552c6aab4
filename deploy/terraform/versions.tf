# churnguard on AWS: MSK (Kafka), ElastiCache (Redis online store), RDS PostgreSQL (MLflow + Airflow
# metadata), S3 (MLflow artifacts + DVC remote), EKS (serving, streaming, MLflow, Airflow via
# deploy/k8s and deploy/helm). Not applied or planned here (no provider download on the dev
# machines); parsed and scanned by tests/ops/test_terraform.py. docs/operations.md: how to apply.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws    = { source = "hashicorp/aws", version = "~> 5.80" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
}

provider "aws" {
  region = var.region
  default_tags { tags = { project = "churnguard", environment = var.environment } }
}
