# Inputs of the Lakehouse cloud deployment. Nothing secret has a default: the SSH public key
# and the allowed CIDR come from the operator (environment TF_VAR_* or a *.tfvars file kept
# out of the repository), see docs/cloud.md.

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-3"
}

variable "availability_zone_suffix" {
  description = "Zone letter appended to aws_region for the subnet (a fixed zone keeps plans stable)."
  type        = string
  default     = "a"
}

variable "project" {
  description = "Name prefix and Project tag of every resource."
  type        = string
  default     = "lakehouse"
}

variable "instance_type" {
  description = "EC2 instance size; the whole stack (PostgreSQL, MinIO, Elasticsearch, MLflow, APIs, Grafana) wants at least 4 vCPU / 16 GiB."
  type        = string
  default     = "t3.xlarge"
}

variable "root_volume_gb" {
  description = "Size of the encrypted root volume (Docker images, volumes, the lake on MinIO)."
  type        = number
  default     = 100

  validation {
    condition     = var.root_volume_gb >= 30
    error_message = "root_volume_gb must be at least 30 GiB: the images alone take about 10."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "subnet_cidr" {
  description = "CIDR block of the public subnet holding the instance."
  type        = string
  default     = "10.42.1.0/24"
}

variable "ssh_allowed_cidr" {
  description = "The only CIDR allowed to reach SSH (22), e.g. your office address with /32."
  type        = string

  validation {
    condition     = can(cidrhost(var.ssh_allowed_cidr, 0)) && var.ssh_allowed_cidr != "0.0.0.0/0"
    error_message = "ssh_allowed_cidr must be a valid CIDR and not 0.0.0.0/0."
  }
}

variable "public_allowed_cidr" {
  description = "CIDR allowed to reach the public ports (UI, APIs, Grafana). Narrow it for a private demo."
  type        = string
  default     = "0.0.0.0/0"
}

variable "public_ports" {
  description = "Ports opened to public_allowed_cidr: UI 8501, datamarts API 9999, scoring API 9997, Grafana 3000. Everything else (PostgreSQL, MinIO, Elasticsearch, Prometheus, MLflow, sources API) stays on the instance's loopback."
  type        = list(number)
  default     = [3000, 8501, 9997, 9999]
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for the admin user (content, not a path)."
  type        = string
}

variable "admin_user" {
  description = "Login user of the AMI (Ubuntu images: ubuntu)."
  type        = string
  default     = "ubuntu"
}
