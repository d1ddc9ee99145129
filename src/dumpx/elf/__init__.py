"""Linux ELF core files: threads, registers, memory by address, modules and build-ids."""

from .core import Core, Module, Segment, Thread, open_core

__all__ = ["Core", "Module", "Segment", "Thread", "open_core"]
