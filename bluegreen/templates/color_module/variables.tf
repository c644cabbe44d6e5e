variable "service" {
  description = "Service name, used in resource names and the Service tag."
  type        = string
}

variable "color" {
  description = "blue or green."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.color)
    error_message = "The color must be \"blue\" or \"green\"."
  }
}

variable "ami" {
  description = "Machine image this color runs."
  type        = string
}

variable "size" {
  description = "Instances this color runs (min_size = desired_capacity = size). 0 for an idle color."
  type        = number
}

variable "max_size" {
  description = "Upper bound for the group. Kept above size so bluegreen can ExitStandby (which increments desired capacity)."
  type        = number
  default     = 10
}

variable "release" {
  description = "Release label recorded on the launch template and the instances."
  type        = string
  default     = ""
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "health_check_type" {
  description = "ELB: a failing load balancer check replaces the instance once the grace period has passed. Falls back to EC2 checks while the group is not attached."
  type        = string
  default     = "ELB"
}

variable "health_check_grace_period" {
  description = "Seconds after launch before health checks count (set explicitly: the API default is 0, the provider's 300)."
  type        = number
  default     = 300
}

variable "target_group_arns" {
  description = "Weighted mode: the color's own target group, attached by Terraform when the group is created. Empty in the attach mode, where bluegreen attaches and detaches the group."
  type        = list(string)
  default     = []
}
