#!/usr/bin/env bash
# The test tiers of `make test`: the whole suite on the embedded Tansu broker, then every test that
# touches a broker again on a local Apache Kafka node (MMSTREAM_TEST_BROKER=kafka; jars from `make kafka`, Java 17+).
# Without Java (or without Maven and the jars) the Kafka tier is skipped, and said so; with
# CI=true that is an error. With MMSTREAM_TEST_BOOTSTRAP_SERVERS set, one tier on that cluster.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest -ra ${PYTEST_ARGS:-})

if [[ -n "${MMSTREAM_TEST_BOOTSTRAP_SERVERS:-}" ]]; then
    echo "== tier: external cluster ${MMSTREAM_TEST_BOOTSTRAP_SERVERS}"
    exec "${PYTEST[@]}"
fi

kafka_missing=""
if ! command -v java >/dev/null && [[ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]]; then
    kafka_missing="no Java (install a JDK 17+)"
elif [[ ! -f .kafka/lib/.fetched ]] && ! command -v mvn >/dev/null; then
    kafka_missing="no Maven to fetch Apache Kafka's jars (install maven, then \`make kafka\`)"
fi
if [[ -n "$kafka_missing" && "${CI:-}" == "true" ]]; then
    echo "CI=true and the Kafka tier cannot run: $kafka_missing" >&2
    exit 1
fi
if [[ -z "$kafka_missing" ]]; then
    make --no-print-directory kafka || exit 1   # before the first tier: fail fast
fi

status=0
started=$SECONDS
echo "== tier 1/2: the whole suite on the embedded Tansu broker"
MMSTREAM_TEST_BROKER=tansu "${PYTEST[@]}" || status=1
tansu_s=$((SECONDS - started))
if [[ -n "$kafka_missing" ]]; then
    echo "== Tansu tier: $tansu_s s"
    echo "!! THE KAFKA TIER DID NOT RUN: $kafka_missing. Only the Tansu tier ran."
    exit $status
fi
started=$SECONDS
echo "== tier 2/2: every test that touches a broker, on a local Apache Kafka node"
echo "   (broker-independent tests - unit tests, simulators, registry over HTTP - ran in tier 1)"
MMSTREAM_TEST_BROKER=kafka MMSTREAM_TEST_BROKER_TESTS_ONLY=1 "${PYTEST[@]}" || status=1
echo "== Tansu tier: $tansu_s s, Kafka tier: $((SECONDS - started)) s"
exit $status
