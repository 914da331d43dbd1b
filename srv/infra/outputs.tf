# What srv/deploy_pipeline.sh reads back to build the Ansible inventory and print URLs.

output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.lakehouse.id
}

output "public_ip" {
  description = "Elastic IP of the instance (stable across stop/start)."
  value       = aws_eip.lakehouse.public_ip
}

output "admin_user" {
  description = "SSH login user for Ansible."
  value       = var.admin_user
}

output "service_urls" {
  description = "Public URLs of the user-facing services."
  value = {
    ui      = "http://${aws_eip.lakehouse.public_ip}:8501"
    api     = "http://${aws_eip.lakehouse.public_ip}:9999/docs"
    api_ml  = "http://${aws_eip.lakehouse.public_ip}:9997/docs"
    grafana = "http://${aws_eip.lakehouse.public_ip}:3000"
  }
}
