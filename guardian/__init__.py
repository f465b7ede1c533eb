"""Guardian: a household filtering web proxy."""

__version__ = "0.1.0"
