"""The embedded stack: Tansu broker and schema registry as child processes on loopback."""

from mmstream.stack.embedded import STACK_FILE, EmbeddedStack, read_stack_file, update_stack_file

__all__ = ["STACK_FILE", "EmbeddedStack", "read_stack_file", "update_stack_file"]
