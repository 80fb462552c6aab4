# Endpoints for deploy/k8s/overlays/prod (none is a secret). Passwords stay in Secrets Manager:
# read them with `aws secretsmanager get-secret-value --secret-id <the *_secret_arn output>`.
output "kafka_bootstrap_brokers" {
  value = aws_msk_cluster.main.bootstrap_brokers_sasl_iam
}
output "redis_primary_endpoint" {
  value = aws_elasticache_replication_group.main.primary_endpoint_address
}
output "postgres_endpoint" {
  value = aws_db_instance.main.address
}
output "postgres_secret_arn" {
  value = aws_secretsmanager_secret.db.arn
}
output "redis_secret_arn" {
  value = aws_secretsmanager_secret.redis.arn
}
output "artifacts_bucket" {
  value = aws_s3_bucket.artifacts.bucket
}
output "eks_cluster_name" {
  value = aws_eks_cluster.main.name
}
output "events_partitions" {
  value = var.events_partitions
}
