output "kind" {
  value = var.kind
}

output "target_group_arn" {
  description = "The serving target group (null for a classic ELB)."
  value       = one(aws_lb_target_group.this[*].arn)
}

output "elb_name" {
  description = "The classic ELB's name (null for an ALB)."
  value       = one(aws_elb.this[*].name)
}

output "dns_name" {
  value = var.kind == "alb" ? one(aws_lb.this[*].dns_name) : one(aws_elb.this[*].dns_name)
}
