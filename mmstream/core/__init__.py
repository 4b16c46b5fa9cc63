"""The ground floor: settings, Kafka client config and admin, topics, logging, errors, health
and dead-letter formats, the runtime's cluster address. It imports nothing else of the
project (tests/unit/test_layout.py checks it); `schemas/` is built on it alone."""
