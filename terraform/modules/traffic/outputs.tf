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

output "listener_arn" {
  description = "Weighted mode: the listener whose forward action carries the weights (null otherwise)."
  value       = one(aws_lb_listener.weighted[*].arn)
}

output "color_target_group_arns" {
  description = "Weighted mode: each color's own target group (null otherwise)."
  value       = var.weighted && var.kind == "alb" ? { for c, tg in aws_lb_target_group.color : c => tg.arn } : null
}
