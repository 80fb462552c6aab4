data "aws_caller_identity" "current" {}

locals {
  prefix = "${var.name}-${var.environment}"
}

# ---- encryption key shared by every store
resource "aws_kms_key" "main" {
  description         = "${local.prefix} data at rest"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

# ---- credentials: generated here, kept in Secrets Manager, never in an output
resource "random_password" "db" {
  length  = 32
  special = false
}
resource "random_password" "redis" {
  length  = 48
  special = false
}
resource "aws_secretsmanager_secret" "db" {
  #checkov:skip=CKV2_AWS_57:rotation needs a rotation Lambda wired to RDS/ElastiCache; rotate with `terraform apply -replace=random_password.db` until then
  name       = "${local.prefix}/postgres"
  kms_key_id = aws_kms_key.main.arn
}
resource "aws_secretsmanager_secret_version" "db" {
  secret_id     = aws_secretsmanager_secret.db.id
  secret_string = jsonencode({ username = "churnguard", password = random_password.db.result })
}
resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:rotation needs a rotation Lambda wired to RDS/ElastiCache; rotate with `terraform apply -replace=random_password.redis` until then
  name       = "${local.prefix}/redis"
  kms_key_id = aws_kms_key.main.arn
}
resource "aws_secretsmanager_secret_version" "redis" {
  secret_id     = aws_secretsmanager_secret.redis.id
  secret_string = random_password.redis.result
}

# ---- network access: only the EKS nodes reach the data stores
resource "aws_security_group" "data" {
  name        = "${local.prefix}-data"
  description = "Kafka, Redis and PostgreSQL, reachable from the EKS cluster only"
  vpc_id      = var.vpc_id
}
resource "aws_vpc_security_group_ingress_rule" "from_eks" {
  for_each                     = { kafka = 9094, redis = 6379, postgres = 5432 }
  security_group_id            = aws_security_group.data.id
  referenced_security_group_id = aws_eks_cluster.main.vpc_config[0].cluster_security_group_id
  from_port                    = each.value
  to_port                      = each.value
  ip_protocol                  = "tcp"
  description                  = "${each.key} from EKS"
}
