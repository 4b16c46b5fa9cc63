"""The embedded stack: Tansu broker and schema registry as child processes on loopback."""

from mmstream.stack.embedded import EmbeddedStack, read_stack_file

__all__ = ["EmbeddedStack", "read_stack_file"]
