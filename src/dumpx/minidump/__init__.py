"""Breakpad/Crashpad minidumps: threads, modules with build-ids, captured memory, the exception."""

from .reader import MiniException, MiniModule, MiniThread, Minidump, open_minidump

__all__ = ["Minidump", "MiniThread", "MiniModule", "MiniException", "open_minidump"]
