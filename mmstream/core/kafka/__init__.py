"""Kafka client configuration and administration shared by connectors, processors and the CLI."""
