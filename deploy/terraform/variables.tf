variable "region" {
  type    = string
  default = "eu-west-1"
}
variable "environment" {
  type    = string
  default = "prod"
}
variable "name" {
  type    = string
  default = "churnguard"
}
variable "vpc_id" {
  type        = string
  description = "Existing VPC"
}
variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets in at least 2 AZs (MSK needs one broker per subnet)"
}

# Sizes
variable "kafka_instance_type" {
  type    = string
  default = "kafka.m7g.large"
}
variable "kafka_broker_count" {
  type    = number
  default = 3
}
variable "kafka_volume_gb" {
  type    = number
  default = 200
}
variable "events_partitions" {
  type        = number
  default     = 12
  description = "Partitions of the events topic = the most streaming consumers that do work (deploy/k8s STREAM_PARTITIONS)"
}
variable "redis_node_type" {
  type    = string
  default = "cache.r7g.large"
}
variable "redis_replicas" {
  type    = number
  default = 1
  validation {
    condition     = var.redis_replicas >= 1
    error_message = "At least one replica: the online store fails over automatically (Multi-AZ)."
  }
}
variable "db_instance_class" {
  type    = string
  default = "db.m7g.large"
}
variable "db_storage_gb" {
  type    = number
  default = 100
}
variable "eks_version" {
  type    = string
  default = "1.32"
}
variable "eks_node_instance_types" {
  type    = list(string)
  default = ["m7i.xlarge"]
}
variable "eks_nodes_min" {
  type    = number
  default = 2
}
variable "eks_nodes_max" {
  type    = number
  default = 10
}
variable "eks_public_access_cidrs" {
  type        = list(string)
  default     = []
  description = "CIDRs allowed to reach the EKS API publicly; empty = private endpoint only"
}
