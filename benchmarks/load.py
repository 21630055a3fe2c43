"""Simulated users against the real topology: Locust, headless, on loopback, for a bounded time.

    .venv/bin/python benchmarks/load.py                      # 50 users for 60 s
    .venv/bin/python benchmarks/load.py --users 10 --seconds 15
    .venv/bin/python benchmarks/load.py --database-url postgres://postgres@127.0.0.1:5432/salesmgr_bench


Starts the topology of ``tests/topology`` (a PostgreSQL server and a
redis-server of its own on free ports, ``migrate``, a seeded organisation of
``--teams`` x ``--reps`` reps with ``--deals`` deals each, gunicorn with two
workers, a Celery worker and beat), runs ``benchmarks/locustfile.py`` with
``--users`` users spawned at ``--spawn-rate`` a second for ``--seconds``,
prints the requests, failures, 5xx answers, p50 and p95 overall and per
request, and the machine's load average, then stops everything. It needs no
DATABASE_URL or REDIS_URL and touches no other server.

With ``--database-url`` it seeds nothing and starts no PostgreSQL: the app
runs on that database as it is (e.g. ``seed_demo --deals 100000``, vacuumed
and analysed), migrated, with its cast read from it (every manager and rep,
tokens issued where missing, up to ``--deals`` open deals per rep handed to
the simulated reps) and its snapshots rewritten; the load writes to it
(moves, edits, new deals), so give it a copy of its own. It keeps production's
recompute delay, sweep and task time limits (``--short-clocks`` for the tests').

It also prints the CPU seconds each part spent during the run: gunicorn, the Celery
worker, beat, redis, Locust and the PostgreSQL backends of the database, each put to the
process holding its client socket. ``--threads N`` runs gunicorn's threaded workers.
"""

import argparse
import csv
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.topology.stack import BIN, Topology  # noqa: E402

LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


@dataclass
class LoadResult:
    users: int
    seconds: int
    requests: int = 0
    failures: int = 0
    server_errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    rps: float = 0.0
    rows: list[dict] = field(default_factory=list)
    failure_lines: list[str] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""
    # CPU seconds each part of the topology (and Locust) spent during the run.
    cpu: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.users} users for {self.seconds} s: {self.requests} requests ({self.rps:.1f}/s), "
            f"{self.failures} failures, {self.server_errors} 5xx, p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms; "
            f"load average {self.load_before} before, {self.load_after} after"
        )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a live process has used, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def _processes() -> list[tuple[int, int, str]]:
    """(pid, process group, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((int(entry.name), int(stat[2]), command))
    return found


def topology_cpu(topology: Topology) -> dict[tuple[str, int], float]:
    """CPU seconds so far of each process of the topology, keyed by (part, pid).

    The web, worker, beat and redis parts are the process groups the topology started; the
    database part is every PostgreSQL backend connected to the topology's database (by
    its name, as ``ps`` shows it). A backend that ends during the run takes its CPU with
    it, so read the database figure as at least that much.
    """
    groups = {p.popen.pid: p.name for p in topology.processes if p.popen is not None}
    database = topology.database_url.rsplit("/", 1)[1]
    processes = _processes()
    part_of_pid = {pid: groups[group] for pid, group, _ in processes if group in groups}
    client_port_owner = _client_ports(set(part_of_pid))
    figures = {}
    for pid, _, command in processes:
        part = part_of_pid.get(pid)
        if part is None and command.startswith("postgres: ") and f" {database} " in command:
            # "postgres: [cluster: ]user database 127.0.0.1(port) state": whose client it serves.
            found = re.search(r"\((\d+)\)", command)
            client = client_port_owner.get(int(found.group(1))) if found else None
            part = f"postgres for {part_of_pid.get(client, 'a client gone (a killed task)')}"
            if client not in part_of_pid and os.environ.get("LOAD_DEBUG"):
                print(f"unattributed backend {pid}: {command.strip()} (client {client})")
        if part is None:
            continue
        seconds = _proc_cpu(pid)
        if seconds is not None:
            figures[(part, pid)] = seconds
    return figures


def _client_ports(pids: set[int]) -> dict[int, int]:
    """The local TCP port of each socket these processes hold, mapped to the process."""
    inode_port = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            columns = line.split()
            inode_port[columns[9]] = int(columns[1].rsplit(":", 1)[1], 16)
    owners = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                port = inode_port.get(target[8:-1])
                if port is not None:
                    owners[port] = pid
    return owners


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """Seconds of CPU per part between two ``topology_cpu`` readings (each process counted in
    the part it belongs to at the end: a backend's client is known once it has one)."""
    earlier = {pid: seconds for (_, pid), seconds in before.items()}
    parts: dict[str, float] = {}
    for (part, pid), seconds in after.items():
        parts[part] = parts.get(part, 0.0) + seconds - earlier.get(pid, 0.0)
    return parts


def run_locust(
    topology: Topology, *, users: int, spawn_rate: float, seconds: int, csv_prefix: Path
) -> LoadResult:
    """Run the locustfile headless against ``topology`` and read its CSV figures."""
    result = LoadResult(users=users, seconds=seconds, load_before=load_average())
    command = [
        str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s",
        "--host", topology.base_url, "--csv", str(csv_prefix),
        "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**topology.env, "SALESMGR_LOAD_CAST": str(topology.workdir / "cast.json")}
    log = csv_prefix.with_suffix(".log")
    cpu_before = topology_cpu(topology)
    children_before = os.times()
    with log.open("w") as output:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
            check=False,
        )
    children_after = os.times()
    result.cpu = cpu_used(cpu_before, topology_cpu(topology))
    result.cpu["locust"] = (children_after.children_user + children_after.children_system) - (
        children_before.children_user + children_before.children_system
    )
    text = log.read_text(errors="replace")
    result.load_after = load_average()
    with Path(f"{csv_prefix}_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    for row in rows:
        figures = {
            "name": f"{row['Type']} {row['Name']}".strip(),
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "p50_ms": float(row["50%"] or 0),
            "p95_ms": float(row["95%"] or 0),
            "rps": float(row["Requests/s"] or 0),
        }
        if row["Name"] == "Aggregated":
            result.requests, result.failures = figures["requests"], figures["failures"]
            result.p50_ms, result.p95_ms, result.rps = (
                figures["p50_ms"],
                figures["p95_ms"],
                figures["rps"],
            )
        else:
            result.rows.append(figures)
    with Path(f"{csv_prefix}_failures.csv").open() as failures:
        result.failure_lines = [
            f"{r['Method']} {r['Name']}: {r['Error']} x{r['Occurrences']}"
            for r in csv.DictReader(failures)
        ]
    found = re.search(r"; 5xx: (\d+)", text)
    if found is None:
        raise RuntimeError(
            f"locust exited with {done.returncode} without its summary:\n{text[-3000:]}"
        )
    result.server_errors = int(found.group(1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5, help="Reps per team.")
    parser.add_argument(
        "--deals", type=int, default=30, help="Deals per rep (with --database-url: at most)."
    )
    parser.add_argument(
        "--database-url",
        help="Run on this seeded database (a copy of one's own: the load writes) instead of seeding one.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="Threads per gunicorn worker (above 1: gunicorn's gthread workers).",
    )
    parser.add_argument(
        "--short-clocks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="The tests' short recompute delay, sweep and task time limits (default: on for the "
        "seeded organisation, off with --database-url: production's).",
    )
    options = parser.parse_args()
    if options.short_clocks is None:
        options.short_clocks = options.database_url is None

    started = time.monotonic()
    topology = Topology(
        teams=options.teams,
        reps=options.reps,
        deals=options.deals,
        database_url=options.database_url,
        gunicorn_threads=options.threads,
        short_clocks=options.short_clocks,
    )
    print(f"starting the topology in {topology.workdir} ...", flush=True)
    try:
        topology.start()
        print(
            f"serving at {topology.base_url} after {time.monotonic() - started:.0f} s; load average {load_average()}"
        )
        result = run_locust(
            topology,
            users=options.users,
            spawn_rate=options.spawn_rate,
            seconds=options.seconds,
            csv_prefix=topology.workdir / "locust",
        )
    except BaseException:
        print(topology.logs(), file=sys.stderr)
        raise
    finally:
        topology.stop()
    print(f"\n{'request':<44} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7}")
    for row in sorted(result.rows, key=lambda r: -r["requests"]):
        print(
            f"{row['name'][:44]:<44} {row['requests']:>7} {row['failures']:>5} {row['p50_ms']:>7.0f} {row['p95_ms']:>7.0f}"
        )
    print(f"\n{result.summary()}")
    served = max(result.requests, 1)
    print(
        "CPU seconds during the run (ms per request): "
        + ", ".join(
            f"{part} {seconds:.1f} ({seconds * 1000 / served:.1f})"
            for part, seconds in sorted(result.cpu.items(), key=lambda item: -item[1])
        )
    )
    for line in result.failure_lines:
        print(f"  failure: {line}")
    sys.exit(0 if result.failures == 0 and result.server_errors == 0 else 1)


if __name__ == "__main__":
    main()
