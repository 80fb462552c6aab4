# ---- Kafka (MSK): TLS in transit, KMS at rest; topic `events` is created with var.events_partitions
resource "aws_msk_cluster" "main" {
  cluster_name           = local.prefix
  kafka_version          = "3.7.x"
  number_of_broker_nodes = var.kafka_broker_count
  broker_node_group_info {
    instance_type   = var.kafka_instance_type
    client_subnets  = var.private_subnet_ids
    security_groups = [aws_security_group.data.id]
    storage_info {
      ebs_storage_info { volume_size = var.kafka_volume_gb }
    }
  }
  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.main.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }
  client_authentication {
    sasl { iam = true }
  }
  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }
}
resource "aws_cloudwatch_log_group" "msk" {
  name              = "/churnguard/${var.environment}/msk"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.main.arn
}

# ---- Redis (ElastiCache): the online store
resource "aws_elasticache_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = var.private_subnet_ids
}
resource "aws_elasticache_replication_group" "main" {
  replication_group_id       = local.prefix
  description                = "churnguard online features"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.data.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis.result
  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 1
}

# ---- PostgreSQL (RDS): databases mlflow and airflow
resource "aws_db_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = var.private_subnet_ids
}
resource "aws_db_instance" "main" {
  identifier                          = local.prefix
  engine                              = "postgres"
  engine_version                      = "16.6"
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_storage_gb
  db_name                             = "mlflow"
  username                            = "churnguard"
  password                            = random_password.db.result
  db_subnet_group_name                = aws_db_subnet_group.main.name
  vpc_security_group_ids              = [aws_security_group.data.id]
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.main.arn
  multi_az                            = true
  publicly_accessible                 = false
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  parameter_group_name                = aws_db_parameter_group.main.name
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.prefix}-final"
}
resource "aws_db_parameter_group" "main" {
  name   = local.prefix
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}
resource "aws_iam_role" "rds_monitoring" {
  name = "${local.prefix}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "monitoring.rds.amazonaws.com" } }]
  })
}
resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ---- S3: MLflow artifacts (prefix mlartifacts/) and the DVC remote (prefix dvc/)
resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:access logs need a separate log bucket per account; add one where an audit requires it
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events (MLflow and DVC read by key)
  #checkov:skip=CKV_AWS_144:artifacts are reproducible from the pipeline; cross-region replication is a cost choice
  bucket = "${local.prefix}-artifacts-${data.aws_caller_identity.current.account_id}"
}
resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration { noncurrent_days = 90 }
    abort_incomplete_multipart_upload { days_after_initiation = 7 }
  }
}
resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration { status = "Enabled" }
}
resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
  }
}
resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
