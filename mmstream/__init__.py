"""mmstream: shared mechanism of the pipeline (settings, Kafka config, embedded stack, CLI)."""

__version__ = "0.1.0"
