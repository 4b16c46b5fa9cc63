"""`python -m mmstream.cli` = the `mmstream` command (used for child processes)."""

from mmstream.cli.main import main

main()
