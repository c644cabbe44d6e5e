# The network comes from elsewhere (another stack, a landing zone): this stack takes it as
# variables. `bluegreen rehearse` makes a VPC and subnets in the emulation and passes them.

variable "service" {
  description = "Service name: prefixes every resource name and tags the groups (Service tag)."
  type        = string
  default     = "cart"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "At least two subnets in different availability zones."
  type        = list(string)
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
  description = "Seconds of connection draining on the classic ELB."
  type        = number
  default     = 30
}

variable "health_check_grace_period" {
  type    = number
  default = 300
}

variable "health_check_interval" {
  type    = number
  default = 10
}

variable "unhealthy_threshold" {
  type    = number
  default = 2
}

# Written by bluegreen (bluegreen.auto.tfvars.json).
variable "live_color" {
  type = string

  validation {
    condition     = contains(["blue", "green"], var.live_color)
    error_message = "The live_color must be \"blue\" or \"green\"."
  }
}

# Written by bluegreen (bluegreen.auto.tfvars.json): per color, the image, size and release label.
variable "colors" {
  type = map(object({
    ami     = string
    size    = number
    release = string
  }))

  validation {
    condition     = length(var.colors) == 2 && contains(keys(var.colors), "blue") && contains(keys(var.colors), "green")
    error_message = "The colors map must have exactly the keys \"blue\" and \"green\"."
  }
}
