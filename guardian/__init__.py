"""Guardian: a household filtering web proxy."""

from guardian.compiled import refuse_stale_build
from guardian.version import version

refuse_stale_build()
__version__ = version()
