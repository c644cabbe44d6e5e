# Shared: network, security group and the traffic layer. Per color: module.blue / module.green.
# bluegreen's blast-radius check allows a release to change module.<idle color>.* only.

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  tags = {
    Service = var.service
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.service })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

# /20 subnets: a release runs both colors at full size at once (about 4,000 addresses each).
resource "aws_subnet" "this" {
  count = 2

  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = true
  tags                    = merge(local.tags, { Name = "${var.service}-${count.index}" })
}

resource "aws_route_table" "this" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = local.tags
}

resource "aws_route_table_association" "this" {
  count = 2

  subnet_id      = aws_subnet.this[count.index].id
  route_table_id = aws_route_table.this.id
}

resource "aws_security_group" "web" {
  name        = var.service
  description = "HTTP to ${var.service}"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "HTTP"
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

  kind                  = var.traffic_kind
  name                  = var.service
  vpc_id                = aws_vpc.this.id
  subnet_ids            = aws_subnet.this[*].id
  security_group_ids    = [aws_security_group.web.id]
  deregistration_delay  = var.deregistration_delay
  health_check_interval = var.health_check_interval
  unhealthy_threshold   = var.unhealthy_threshold
  weighted              = var.traffic_mode == "weighted"
  live_color            = var.live_color
  tags                  = local.tags
}

# attach mode: neither group is attached to the load balancer here: bluegreen attaches the color
# it releases and detaches the old one (the modules ignore changes to the attachment).
# weighted mode: each group is attached to its own target group here, for good; bluegreen moves
# the listener's weights between the two target groups.
module "blue" {
  source = "../../modules/color"

  service                   = var.service
  color                     = "blue"
  health_check_grace_period = var.health_check_grace_period
  ami                       = var.colors["blue"].ami
  size                      = var.colors["blue"].size
  release                   = var.colors["blue"].release
  target_group_arns         = var.traffic_mode == "weighted" ? [module.traffic.color_target_group_arns["blue"]] : []
  max_size                  = var.max_size
  instance_type             = var.instance_type
  subnet_ids                = aws_subnet.this[*].id
  security_group_ids        = [aws_security_group.web.id]
}

module "green" {
  source = "../../modules/color"

  service                   = var.service
  color                     = "green"
  health_check_grace_period = var.health_check_grace_period
  ami                       = var.colors["green"].ami
  size                      = var.colors["green"].size
  release                   = var.colors["green"].release
  target_group_arns         = var.traffic_mode == "weighted" ? [module.traffic.color_target_group_arns["green"]] : []
  max_size                  = var.max_size
  instance_type             = var.instance_type
  subnet_ids                = aws_subnet.this[*].id
  security_group_ids        = [aws_security_group.web.id]
}
