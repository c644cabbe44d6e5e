# The contract bluegreen reads (model.StackOutputs). Keep the names.

output "service" {
  value = var.service
}

output "asg_names" {
  value = {
    blue  = aws_autoscaling_group.blue.name
    green = aws_autoscaling_group.green.name
  }
}

output "launch_template_ids" {
  value = {
    blue  = aws_launch_template.blue.id
    green = aws_launch_template.green.id
  }
}

output "traffic_kind" {
  value = "elb"
}

output "target_group_arn" {
  value = null
}

output "elb_name" {
  value = aws_elb.web.name
}

output "lb_dns_name" {
  value = aws_elb.web.dns_name
}

output "live_color" {
  value = var.live_color
}
