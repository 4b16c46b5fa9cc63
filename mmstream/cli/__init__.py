"""The `mmstream` command line: one module per sub-command, loaded only when it is run."""
