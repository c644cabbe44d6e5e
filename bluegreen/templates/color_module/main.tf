locals {
  name = "${var.service}-${var.color}"
  tags = {
    Service = var.service
    Color   = var.color
  }
}

resource "aws_launch_template" "this" {
  name          = local.name
  image_id      = var.ami
  instance_type = var.instance_type

  vpc_security_group_ids = var.security_group_ids

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Release = var.release })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "this" {
  name                = local.name
  vpc_zone_identifier = var.subnet_ids

  # MinSize 0: capacity is desired_capacity alone, so an operator who scales the live group by
  # hand changes one number that bluegreen reads back ("size follows reality"), and Standby can
  # always decrement desired capacity. bluegreen still lowers and restores MinSize on stacks that
  # set one.
  min_size         = 0
  desired_capacity = var.size
  # ExitStandby always increments desired capacity: leave headroom above size.
  max_size = max(var.size, var.max_size)

  # Weighted mode: attached to its own target group for its whole life (bluegreen never attaches or
  # detaches in that mode; it moves the listener's weights).
  target_group_arns = var.target_group_arns

  health_check_type         = var.health_check_type
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id = aws_launch_template.this.id
    # A numeric version, never $Latest/$Default: those resolve at each launch, so a live group
    # would start launching the idle color's image as soon as a new template version exists.
    version = aws_launch_template.this.latest_version
  }

  tag {
    key                 = "Service"
    value               = var.service
    propagate_at_launch = true
  }

  tag {
    key                 = "Color"
    value               = var.color
    propagate_at_launch = true
  }

  lifecycle {
    # bluegreen attaches the group to the load balancer (and detaches it) during a release, and
    # suspends AZRebalance, AlarmNotification and ScheduledActions while it runs. In the weighted
    # mode target_group_arns is set at creation and nothing changes it afterwards.
    ignore_changes = [load_balancers, target_group_arns, suspended_processes]
  }
}
