# Layout "plain root resources": each color written out as its own resources in the root module,
# aws_launch_template.blue / aws_autoscaling_group.blue and the same for green, and a classic ELB.
# bluegreen.toml: color_addresses = ["aws_launch_template.{color}", "aws_autoscaling_group.{color}"].

locals {
  tags = {
    Service = var.service
  }
}

resource "aws_security_group" "web" {
  name        = var.service
  description = "HTTP to ${var.service}"
  vpc_id      = var.vpc_id

  ingress {
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = local.tags
}

resource "aws_elb" "web" {
  name            = var.service
  subnets         = var.subnet_ids
  security_groups = [aws_security_group.web.id]

  listener {
    lb_port           = 80
    lb_protocol       = "http"
    instance_port     = 80
    instance_protocol = "http"
  }

  health_check {
    target              = "HTTP:80/health"
    interval            = var.health_check_interval
    timeout             = min(5, var.health_check_interval - 1)
    healthy_threshold   = 2
    unhealthy_threshold = var.unhealthy_threshold
  }

  cross_zone_load_balancing   = true
  connection_draining         = true
  connection_draining_timeout = var.deregistration_delay

  tags = local.tags
}

# -- blue ---------------------------------------------------------------------------------------

resource "aws_launch_template" "blue" {
  name                   = "${var.service}-blue"
  image_id               = var.colors["blue"].ami
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.web.id]

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Color = "blue", Release = var.colors["blue"].release })
  }

  tags = merge(local.tags, { Color = "blue" })
}

resource "aws_autoscaling_group" "blue" {
  name                      = "${var.service}-blue"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = 0
  desired_capacity          = var.colors["blue"].size
  max_size                  = max(var.colors["blue"].size, var.max_size) # ExitStandby needs headroom
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id      = aws_launch_template.blue.id
    version = aws_launch_template.blue.latest_version # numeric: never $Latest
  }

  tag {
    key                 = "Service"
    value               = var.service
    propagate_at_launch = true
  }

  tag {
    key                 = "Color"
    value               = "blue"
    propagate_at_launch = true
  }

  lifecycle {
    # bluegreen attaches and detaches the group, and suspends processes during a release.
    ignore_changes = [load_balancers, target_group_arns, suspended_processes]
  }
}

# -- green --------------------------------------------------------------------------------------

resource "aws_launch_template" "green" {
  name                   = "${var.service}-green"
  image_id               = var.colors["green"].ami
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.web.id]

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Color = "green", Release = var.colors["green"].release })
  }

  tags = merge(local.tags, { Color = "green" })
}

resource "aws_autoscaling_group" "green" {
  name                      = "${var.service}-green"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = 0
  desired_capacity          = var.colors["green"].size
  max_size                  = max(var.colors["green"].size, var.max_size) # ExitStandby needs headroom
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id      = aws_launch_template.green.id
    version = aws_launch_template.green.latest_version # numeric: never $Latest
  }

  tag {
    key                 = "Service"
    value               = var.service
    propagate_at_launch = true
  }

  tag {
    key                 = "Color"
    value               = "green"
    propagate_at_launch = true
  }

  lifecycle {
    # bluegreen attaches and detaches the group, and suspends processes during a release.
    ignore_changes = [load_balancers, target_group_arns, suspended_processes]
  }
}
