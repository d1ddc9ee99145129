"""Task functions for the fleet's fault tests, importable by spawned pool workers."""

import os

from dumpx.fleets.summary import summarize


def dies_on_poison(path, options):
    """A worker that dies (as an OOM kill or a crash would kill it) whenever it reads a 'poison' input."""
    if "poison" in os.path.basename(path):
        os._exit(9)
    return summarize(path, options)
