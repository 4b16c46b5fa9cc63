"""The embedded stack: Tansu broker and schema registry as child processes on loopback."""

from mmstream.stack.embedded import EmbeddedStack

__all__ = ["EmbeddedStack"]
