locals {
  alb = var.kind == "alb" ? 1 : 0
  elb = var.kind == "elb" ? 1 : 0
}

resource "aws_lb" "this" {
  count = local.alb

  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = var.security_group_ids
  tags               = var.tags
}

resource "aws_lb_target_group" "this" {
  count = local.alb

  name                 = var.name
  port                 = var.port
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = var.health_check_path
    protocol            = "HTTP"
    matcher             = "200"
    interval            = var.health_check_interval
    timeout             = min(5, var.health_check_interval - 1) # AWS: shorter than the interval
    healthy_threshold   = 2
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  count = local.alb

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

resource "aws_elb" "this" {
  count = local.elb

  name            = var.name
  subnets         = var.subnet_ids
  security_groups = var.security_group_ids

  listener {
    lb_port           = var.port
    lb_protocol       = "http"
    instance_port     = var.port
    instance_protocol = "http"
  }

  health_check {
    target              = "HTTP:${var.port}${var.health_check_path}"
    interval            = var.health_check_interval
    timeout             = min(5, var.health_check_interval - 1) # AWS: shorter than the interval
    healthy_threshold   = 2
    unhealthy_threshold = var.unhealthy_threshold
  }

  cross_zone_load_balancing   = true
  connection_draining         = true
  connection_draining_timeout = var.deregistration_delay

  tags = var.tags
}
