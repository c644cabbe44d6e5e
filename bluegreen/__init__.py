"""bluegreen: zero-downtime blue/green releases of a machine image to AWS, driven by Terraform."""

__version__ = "0.1.0"
