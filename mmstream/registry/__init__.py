"""Embedded schema registry: the subset of the Confluent Schema Registry REST API that
confluent-kafka's serializers and Kafka Connect's AvroConverter use, persisted in a log of the
same key/value records Confluent keeps in its `_schemas` topic."""
