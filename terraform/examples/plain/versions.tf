terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 3.39 is what the offline lab runs; everything here is also valid for 5.x and 6.x.
      version = ">= 3.39, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}
