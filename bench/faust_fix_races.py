"""Restart race: how often a restarted Faust worker misses input records, per disabled fix.

    python bench/faust_fix_races.py BOOTSTRAP EMBEDDED(1|0) ROUNDS "fixA,fixB;fixC;..."

Each round: 300 records into 4 partitions (200 before, 100 after the first worker is stopped),
a worker (tests/integration/broker/faust_offsets_app.py, with the named Faust fixes not
installed) stopped by SIGTERM or SIGKILL 0.5-6 s after its start, a second worker started;
"missing" counts the input records the second worker never processed within 45 s. One JSON
line per round, then one per configuration. An experiment, not a test: the races are timing
dependent, so a configuration without failures in a few rounds proves nothing.
"""

# ruff: noqa
import os, random, signal, subprocess, sys, time, uuid, json, tempfile
from pathlib import Path
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mmstream.core.kafka.config import ClusterTarget, producer_config, consumer_config


def topic(target: ClusterTarget, parts: int) -> str:
    name = f"race-{uuid.uuid4().hex[:8]}"
    adm = AdminClient({"bootstrap.servers": target.bootstrap_servers})
    adm.create_topics([NewTopic(name, parts, 1 if target.embedded else -1)])[name].result(30)
    return name


def produce(target: ClusterTarget, t: str, start: int, n: int) -> None:
    p = Producer(producer_config(target))
    for i in range(start, start + n):
        p.produce(t, key=f"k{i % 20}".encode(), value=str(i).encode())
    assert p.flush(30) == 0


def read_all(
    target: ClusterTarget, t: str, parts: int, deadline: float, want: set[str] | None = None
) -> set[str]:
    c = Consumer(consumer_config(target, f"r-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for p in range(parts)])
    got: set[str] = set()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is None or m.error():
            if want is not None and want <= got:
                break
            continue
        got.add((m.value() or b"").decode())
    c.close()
    return got


def inputs(target: ClusterTarget, t: str, parts: int, count: int = 300) -> set[str]:
    c = Consumer(consumer_config(target, f"r-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for p in range(parts)])
    out: set[str] = set()
    end = time.monotonic() + 30
    while len(out) < count and time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            out.add(f"{m.partition()}:{m.offset()}")
    c.close()
    assert len(out) == count, len(out)
    return out


def worker(
    target: ClusterTarget, app_id: str, inp: str, out: str, d: Path, off: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEST_BOOTSTRAP": target.bootstrap_servers,
        "TEST_EMBEDDED": "1" if target.embedded else "0",
        "TEST_APP_ID": app_id,
        "TEST_INPUT": inp,
        "TEST_OUTPUT": out,
        "TEST_DATADIR": str(d),
        "TEST_FAUST_FIXES_OFF": off,
        "PYTHONPATH": str(ROOT),
    }
    app = "tests.integration.broker.faust_offsets_app"
    return subprocess.Popen(
        [sys.executable, "-m", app],
        env=env,
        cwd=ROOT,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def round_(
    target: ClusterTarget, off: str, sig: signal.Signals, delay: float, tmp: Path
) -> tuple[int, int]:
    inp, out = topic(target, 4), topic(target, 4)
    app_id = f"race-{uuid.uuid4().hex[:8]}"
    produce(target, inp, 0, 200)
    log = tmp / f"{app_id}.log"
    w = worker(target, app_id, inp, out, tmp / app_id, off, log)
    time.sleep(delay)
    w.send_signal(sig)
    w.wait(60)
    produce(target, inp, 200, 100)
    w2 = worker(target, app_id, inp, out, tmp / app_id, off, log)
    want = inputs(target, inp, 4)
    got = read_all(target, out, 4, 45, want)
    w2.send_signal(signal.SIGTERM)
    try:
        w2.wait(40)
    except subprocess.TimeoutExpired:
        w2.kill()
    return len(want - got), len(want)


if __name__ == "__main__":
    bootstrap, embedded, rounds = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
    configs = sys.argv[4].split(";")
    target = ClusterTarget(bootstrap, embedded)
    tmp = Path(tempfile.mkdtemp(prefix="race-"))
    rnd = random.Random(7)
    for off in configs:
        results = []
        for r in range(rounds):
            sig = signal.SIGTERM if r % 2 == 0 else signal.SIGKILL
            delay = rnd.uniform(0.5, 6.0)
            missing, total = round_(target, off, sig, delay, tmp)
            results.append(missing)
            print(
                json.dumps(
                    {
                        "off": off or "none",
                        "round": r,
                        "sig": sig.name,
                        "delay": round(delay, 2),
                        "missing": missing,
                        "of": total,
                    }
                ),
                flush=True,
            )
        print(
            json.dumps(
                {
                    "off": off or "none",
                    "failed_rounds": sum(1 for m in results if m),
                    "rounds": rounds,
                }
            ),
            flush=True,
        )
