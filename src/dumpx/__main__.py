"""``python -m dumpx``: the same as the ``dumpx`` command."""

from .cli import entry

entry()
