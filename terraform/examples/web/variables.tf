variable "service" {
  description = "Service name: prefixes every resource name and tags the groups (Service tag)."
  type        = string
  default     = "web"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "traffic_kind" {
  description = "alb (Application Load Balancer + target group) or elb (classic ELB)."
  type        = string
  default     = "alb"

  validation {
    condition     = contains(["alb", "elb"], var.traffic_kind)
    error_message = "The traffic_kind must be \"alb\" or \"elb\"."
  }
}

variable "traffic_mode" {
  description = "attach (bluegreen attaches the new color to the one target group, detaches the old) or weighted (ALB only: each color its own target group, bluegreen moves the listener's weights)."
  type        = string
  default     = "attach"

  validation {
    condition     = contains(["attach", "weighted"], var.traffic_mode)
    error_message = "The traffic_mode must be \"attach\" or \"weighted\"."
  }
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "max_size" {
  description = "Upper bound of each color's group; kept above size so bluegreen can ExitStandby."
  type        = number
  default     = 10
}

variable "deregistration_delay" {
  description = "Seconds a deregistered instance keeps draining."
  type        = number
  default     = 30
}

variable "health_check_grace_period" {
  description = "Seconds after launch before a failed health check counts: Auto Scaling waits this long before replacing an instance, bluegreen before failing a release on it."
  type        = number
  default     = 300
}

variable "health_check_interval" {
  description = "Seconds between the load balancer's health checks (5-300)."
  type        = number
  default     = 10
}

variable "unhealthy_threshold" {
  description = "Consecutive failed health checks before a target is unhealthy (2-10)."
  type        = number
  default     = 2
}

variable "vpc_cidr" {
  type    = string
  default = "10.42.0.0/16"
}

# Written by bluegreen (bluegreen.auto.tfvars.json); never hand-edited during a release.
variable "live_color" {
  description = "The color serving traffic: blue or green."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.live_color)
    error_message = "The live_color must be \"blue\" or \"green\"."
  }
}

# Written by bluegreen (bluegreen.auto.tfvars.json): per color, the image, size and release label.
variable "colors" {
  description = "Per color (blue and green): ami, size (instances) and release (a label)."
  type = map(object({
    ami     = string
    size    = number
    release = string
  }))

  validation {
    condition     = length(var.colors) == 2 && contains(keys(var.colors), "blue") && contains(keys(var.colors), "green")
    error_message = "The colors map must have exactly the keys \"blue\" and \"green\"."
  }

  validation {
    condition     = alltrue([for c in values(var.colors) : c.size >= 0 && floor(c.size) == c.size])
    error_message = "Each color's size must be a whole number >= 0."
  }
}
