"""Implementations of the core's ports: peewee, S3, local disk, Pillow, JWT, the system clock."""
