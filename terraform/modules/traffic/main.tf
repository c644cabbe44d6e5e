locals {
  alb = var.kind == "alb" ? 1 : 0
  elb = var.kind == "elb" ? 1 : 0
  # attach mode: one target group that bluegreen attaches each color's group to in turn.
  # weighted mode (ALB only): one target group per color and a listener forwarding to both.
  shared   = var.kind == "alb" && !var.weighted ? 1 : 0
  weighted = var.kind == "alb" && var.weighted ? 1 : 0
  colors   = var.kind == "alb" && var.weighted ? toset(["blue", "green"]) : toset([])
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
  count = local.shared

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
  count = local.shared

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

# Weighted mode: each color's own target group; its Auto Scaling group is attached to it by
# Terraform (module.<color>), so a color at weight 0 is registered and health-checked but serves nothing.
resource "aws_lb_target_group" "color" {
  for_each = local.colors

  name                 = "${var.name}-${each.key}"
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

# Weighted mode: the listener forwards to both colors' target groups. The weights are bluegreen's:
# created with all traffic on the live color, then changed only by ModifyListener during a release,
# so Terraform ignores the action after creation and `terraform plan` stays clean after a release.
resource "aws_lb_listener" "weighted" {
  count = local.weighted

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.port
  protocol          = "HTTP"

  default_action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.color["blue"].arn
        weight = var.live_color == "blue" ? 100 : 0
      }

      target_group {
        arn    = aws_lb_target_group.color["green"].arn
        weight = var.live_color == "green" ? 100 : 0
      }
    }
  }

  lifecycle {
    ignore_changes = [default_action]
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
