# The plain-Terraform release pattern many teams use instead of blue/green, kept here for the
# benchmark (`make bench`): one Auto Scaling group per launch template version.
#
# A new AMI makes a new launch template version; the group's name embeds that version, so Terraform
# must replace the group; `create_before_destroy` creates the new group first, Terraform attaches it
# to the target group itself (`target_group_arns`) and `wait_for_elb_capacity` holds the apply until
# that many of its instances are healthy in the target group; then the same apply destroys the old
# group (its instances are scaled to zero and terminated).

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

resource "aws_launch_template" "this" {
  name          = var.name
  image_id      = var.ami
  instance_type = var.instance_type

  vpc_security_group_ids = var.security_group_ids

  tag_specifications {
    resource_type = "instance"
    tags = {
      Service = var.name
    }
  }
}

resource "aws_autoscaling_group" "this" {
  # A new launch template version -> a new name -> a new group (created before the old is destroyed).
  name                = "${var.name}-v${aws_launch_template.this.latest_version}"
  vpc_zone_identifier = var.subnet_ids

  min_size         = var.size
  max_size         = var.size
  desired_capacity = var.size

  target_group_arns         = [var.target_group_arn]
  wait_for_elb_capacity     = var.size
  wait_for_capacity_timeout = "5m"
  health_check_type         = "EC2"

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  tag {
    key                 = "Service"
    value               = var.name
    propagate_at_launch = true
  }

  lifecycle {
    create_before_destroy = true
  }
}
