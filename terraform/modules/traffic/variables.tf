variable "kind" {
  description = "alb: an Application Load Balancer with one target group; elb: a classic ELB."
  type        = string
  default     = "alb"

  validation {
    condition     = contains(["alb", "elb"], var.kind)
    error_message = "The traffic kind must be \"alb\" or \"elb\"."
  }
}

variable "name" {
  description = "Name of the load balancer (and target group). At most 32 characters."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "port" {
  description = "Port the load balancer listens on and the instances serve."
  type        = number
  default     = 80
}

variable "health_check_path" {
  type    = string
  default = "/health"
}

variable "deregistration_delay" {
  description = "Seconds a deregistered target keeps draining (target group deregistration delay / ELB connection draining timeout)."
  type        = number
  default     = 30
}

variable "health_check_interval" {
  description = "Seconds between health checks (5-300)."
  type        = number
  default     = 10
}

variable "unhealthy_threshold" {
  description = "Consecutive failed checks before a target is unhealthy (2-10)."
  type        = number
  default     = 2
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "weighted" {
  description = "Weighted mode (ALB only): one target group per color and a listener forwarding to both with weights that bluegreen changes."
  type        = bool
  default     = false
}

variable "live_color" {
  description = "Weighted mode: the color the listener forwards all traffic to when it is created (bluegreen owns the weights afterwards)."
  type        = string
  default     = "blue"
}
