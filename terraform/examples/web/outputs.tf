# The contract bluegreen reads (model.StackOutputs). Keep the names.

output "service" {
  value = var.service
}

output "asg_names" {
  value = {
    blue  = module.blue.asg_name
    green = module.green.asg_name
  }
}

output "launch_template_ids" {
  value = {
    blue  = module.blue.launch_template_id
    green = module.green.launch_template_id
  }
}

output "traffic_kind" {
  value = var.traffic_kind
}

output "target_group_arn" {
  description = "null for a classic ELB."
  value       = module.traffic.target_group_arn
}

output "elb_name" {
  description = "null for an ALB."
  value       = module.traffic.elb_name
}

output "lb_dns_name" {
  value = module.traffic.dns_name
}

output "live_color" {
  value = var.live_color
}

# Weighted mode (traffic_mode = "weighted"): the listener whose weights bluegreen moves and each
# color's own target group. Null in the attach mode.
output "traffic_mode" {
  value = var.traffic_mode
}

output "listener_arn" {
  value = module.traffic.listener_arn
}

output "target_group_arns" {
  value = module.traffic.color_target_group_arns
}
