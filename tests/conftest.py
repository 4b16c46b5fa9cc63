"""Session-wide test fixtures, one plugin module per part (see CONTRIBUTING.md)."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.avro",
    "tests.fixtures.simulators",
]
