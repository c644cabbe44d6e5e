# Layout "for_each over colors": one module block instantiated per color, module.app["blue"] and
# module.app["green"]. bluegreen.toml: color_addresses = ["module.app[\"{color}\"]"].

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

module "traffic" {
  source = "../../modules/traffic"

  kind                  = "elb"
  name                  = var.service
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  security_group_ids    = [aws_security_group.web.id]
  deregistration_delay  = var.deregistration_delay
  health_check_interval = var.health_check_interval
  unhealthy_threshold   = var.unhealthy_threshold
  tags                  = local.tags
}

# Not attached to the ELB here: bluegreen attaches the color it releases (the module ignores
# changes to the attachment).
module "app" {
  source   = "../../modules/color"
  for_each = var.colors

  service                   = var.service
  color                     = each.key
  ami                       = each.value.ami
  size                      = each.value.size
  release                   = each.value.release
  health_check_grace_period = var.health_check_grace_period
  max_size                  = var.max_size
  instance_type             = var.instance_type
  subnet_ids                = var.subnet_ids
  security_group_ids        = [aws_security_group.web.id]
}
