# The contract bluegreen reads (model.StackOutputs). Keep the names.

output "service" {
  value = var.service
}

output "asg_names" {
  value = { for color, app in module.app : color => app.asg_name }
}

output "launch_template_ids" {
  value = { for color, app in module.app : color => app.launch_template_id }
}

output "traffic_kind" {
  value = "elb"
}

output "target_group_arn" {
  value = null
}

output "elb_name" {
  value = module.traffic.elb_name
}

output "lb_dns_name" {
  value = module.traffic.dns_name
}

output "live_color" {
  value = var.live_color
}
