variable "name" {
  type    = string
  default = "plain-web"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ami" {
  type = string
}

variable "size" {
  type    = number
  default = 2
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "target_group_arn" {
  description = "The target group the new group registers with (the benchmark passes the lab's)."
  type        = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type    = list(string)
  default = []
}
