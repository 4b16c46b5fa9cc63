#!/usr/bin/env bash
# The test tiers of `make test`: the whole suite on the embedded Tansu broker, then (or at the same
# time, MMSTREAM_TEST_TIERS=parallel) every test that touches a broker again on a local Apache
# Kafka node (MMSTREAM_TEST_BROKER=kafka; jars from `make kafka`, Java 17+).
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

tansu_tier=(env MMSTREAM_TEST_BROKER=tansu "${PYTEST[@]}")
# the second tier's own cache directory: with both tiers at once, neither overwrites the other's
kafka_tier=(env MMSTREAM_TEST_BROKER=kafka MMSTREAM_TEST_BROKER_TESTS_ONLY=1 "${PYTEST[@]}"
    -o cache_dir=.pytest_cache/kafka-tier)
KAFKA_TIER_TITLE="every test that touches a broker, on a local Apache Kafka node"
KAFKA_TIER_NOTE="   (broker-independent tests - unit tests, simulators, registry over HTTP - ran in tier 1)"

status=0
started=$SECONDS
if [[ -n "$kafka_missing" ]]; then
    echo "== tier 1/2: the whole suite on the embedded Tansu broker"
    "${tansu_tier[@]}" || status=1
    echo "== Tansu tier: $((SECONDS - started)) s"
    echo "!! THE KAFKA TIER DID NOT RUN: $kafka_missing. Only the Tansu tier ran."
    exit $status
fi

if [[ "${MMSTREAM_TEST_TIERS:-serial}" != "parallel" ]]; then
    echo "== tier 1/2: the whole suite on the embedded Tansu broker"
    "${tansu_tier[@]}" || status=1
    tansu_s=$((SECONDS - started))
    started=$SECONDS
    echo "== tier 2/2: $KAFKA_TIER_TITLE"
    echo "$KAFKA_TIER_NOTE"
    "${kafka_tier[@]}" || status=1
    echo "== Tansu tier: $tansu_s s, Kafka tier: $((SECONDS - started)) s"
    exit $status
fi

# MMSTREAM_TEST_TIERS=parallel (.ci/run sets it): both tiers at once. Their tests mostly wait on
# brokers, scenarios and timeouts rather than compute, so on an otherwise idle machine the pair
# takes little longer than the Tansu tier alone; on a machine already loaded the timing-bound
# tests (the demo's 30 s promise, restarts racing a hedge deadline) fail more often, serial or
# not. Each tier has its own broker, registry and ports; the Kafka tier's output is kept in a
# file and printed once the Tansu tier is done.
kafka_log=$(mktemp "${TMPDIR:-/tmp}/mmstream-kafka-tier.XXXXXX")
(
    trap 'kill "$tier_pid" 2>/dev/null' TERM
    "${kafka_tier[@]}" >"$kafka_log" 2>&1 &
    tier_pid=$!
    wait "$tier_pid"
    rc=$?
    echo "$rc $((SECONDS - started))" >"$kafka_log.done"
    exit "$rc"
) &
kafka_lane=$!
trap 'kill "$kafka_lane" 2>/dev/null; wait "$kafka_lane" 2>/dev/null; rm -f "$kafka_log"*' EXIT
trap 'exit 130' INT TERM
echo "== tier 1/2: the whole suite on the embedded Tansu broker"
echo "   (tier 2/2, $KAFKA_TIER_TITLE, runs at the same time: its output follows)"
"${tansu_tier[@]}" || status=1
tansu_s=$((SECONDS - started))
wait "$kafka_lane" || status=1
read -r _ kafka_s <"$kafka_log.done" || kafka_s="?"
echo "== tier 2/2: $KAFKA_TIER_TITLE"
echo "$KAFKA_TIER_NOTE"
cat "$kafka_log"
echo "== Tansu tier: $tansu_s s, Kafka tier: $kafka_s s (at the same time), both: $((SECONDS - started)) s"
exit $status
