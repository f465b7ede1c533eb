"""Guardian: a household filtering web proxy."""

from guardian.version import version

__version__ = version()
