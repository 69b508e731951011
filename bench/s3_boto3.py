#!/usr/bin/env python3
"""boto3 load against an S3-compatible endpoint: PUT and GET with SSE-KMS.

Four phases, in this order: put-1KiB, get-1KiB, put-1MiB, get-1MiB. Each PUT names
`ServerSideEncryption=aws:kms` and `SSEKMSKeyId`; each GET reads back an object that
the PUT phase of the same size stored and compares every byte. `--threads` threads
(4 by default) each use their own boto3 client: path-style addressing, no retries
(`total_max_attempts=1`), so any failed request is an error, never a silent retry.

Used by object-bench's `s3` phase against keyhold's S3 endpoint and moto in the same
run (see BENCHMARKS.md), and runnable by hand:

    python3 bench/s3_boto3.py --endpoint http://127.0.0.1:9000 \
        --access-key AKIAKEYHOLDDEVUSER01 \
        --secret-key dev-only-user-0001-secret-not-for-production \
        --kms-key-id alias/object-bench --create-bucket --seconds 10

    # moto (`python3 -m moto.server -p 5000`): a KMS key is made there first
    python3 bench/s3_boto3.py --endpoint http://127.0.0.1:5000 --access-key test \
        --secret-key test --create-kms-key --create-bucket --seconds 10

Length of a phase: `--seconds` measured after `--warmup-seconds` uncounted (an
operation counts when it completes inside the window), or `--count` operations in all,
every one counted. A GET phase reads the keys its PUT phase stored, warm-up included.

CPU: with `--watch NAME=PID` (repeatable) and `--watch-postgres`, the CPU seconds of
those processes (and of this one, `client`, and of the whole machine, `machine`) over
each phase's measured window are reported, from /proc.

Exit codes: 0 every request succeeded and every byte matched; 1 a request failed or
a GET returned other bytes (the first such request is printed, with its S3 error
code, HTTP status and request id); 2 bad arguments or no boto3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import threading
import time
import uuid

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - depends on the machine
    print(
        "s3_boto3.py: boto3 is not installed (pip install boto3 'moto[server]')",
        file=sys.stderr,
    )
    sys.exit(2)

KIB = 1024
MIB = 1024 * 1024
PHASES = {
    "put-1KiB": ("put", KIB),
    "get-1KiB": ("get", KIB),
    "put-1MiB": ("put", MIB),
    "get-1MiB": ("get", MIB),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failed request or a wrong answer: the run stops and says which."""

    def __init__(self, detail: dict):
        super().__init__(detail.get("message", ""))
        self.detail = detail


def describe(error: Exception, phase: str, op: str, key: str) -> dict:
    """What went wrong, as precisely as the response allows."""
    detail = {
        "phase": phase,
        "operation": op,
        "key": key,
        "type": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, BenchError):
        detail.update(error.detail)
    if isinstance(error, ClientError):
        response = error.response or {}
        meta = response.get("ResponseMetadata", {})
        headers = meta.get("HTTPHeaders", {})
        detail.update(
            {
                "code": response.get("Error", {}).get("Code"),
                "message": response.get("Error", {}).get("Message"),
                "http_status": meta.get("HTTPStatusCode"),
                "request_id": meta.get("RequestId") or headers.get("x-amz-request-id"),
            }
        )
    return detail


def payload(size: int) -> bytes:
    """Incompressible bytes; each object gets its own first 16 (see `body_for`)."""
    return os.urandom(size)


def body_for(base: bytes, thread: int, index: int) -> bytes:
    """The object `thread` puts as its `index`th: a per-object head on the shared base,
    so a GET that returned another object's bytes would not match."""
    head = struct.pack("<QQ", thread, index)
    return head[: len(base)] + base[len(head) :]


# --- /proc ---------------------------------------------------------------------


def process_ticks(pid: int) -> int:
    """utime + stime of a process (all threads), in clock ticks; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 1 :].split()
    return int(fields[11]) + int(fields[12])


def postgres_ticks() -> dict[int, int]:
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        ticks[int(entry)] = process_ticks(int(entry))
    return ticks


def machine_ticks() -> int:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return sum(values) - values[3] - values[4]


class CpuMark:
    def __init__(self, watch: dict[str, int], postgres: bool):
        self.at = time.perf_counter()
        self.client = os.times()
        self.watched = {name: process_ticks(pid) for name, pid in watch.items()}
        self.postgres = postgres_ticks() if postgres else None
        self.machine = machine_ticks()

    def since(self, start: "CpuMark") -> dict:
        """CPU seconds spent between `start` and this mark."""
        spent = {
            "wall": self.at - start.at,
            "client": (self.client.user + self.client.system)
            - (start.client.user + start.client.system),
        }
        for name, ticks in self.watched.items():
            spent[name] = (ticks - start.watched.get(name, 0)) / CLOCK_TICKS
        if self.postgres is not None:
            spent["postgres"] = (
                sum(t - start.postgres.get(pid, 0) for pid, t in self.postgres.items())
                / CLOCK_TICKS
            )
        spent["machine"] = (self.machine - start.machine) / CLOCK_TICKS
        return spent


# --- the load ------------------------------------------------------------------


def s3_client(args):
    config = Config(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=2,
    )
    # A session per client: boto3's default session is not meant to be shared
    # between threads while clients are made.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        config=config,
    )


def check_sse(response: dict, op: str, key: str, kms_key_id: str | None):
    sse = response.get("ServerSideEncryption")
    if sse != "aws:kms":
        raise BenchError(
            {
                "message": f"{op} of {key} answered ServerSideEncryption={sse!r}, not 'aws:kms'",
            }
        )
    if kms_key_id is not None and not response.get("SSEKMSKeyId"):
        raise BenchError({"message": f"{op} of {key} answered no SSEKMSKeyId"})


class Phase:
    """One phase: threads doing one kind of call until the window closes."""

    def __init__(self, name, op, size, args, clients, stored, kms_key_id):
        self.name, self.op, self.size = name, op, size
        self.args, self.clients, self.kms_key_id = args, clients, kms_key_id
        # PUT: fills stored[size] per thread; GET: reads all of them.
        self.stored = stored
        self.base = stored.setdefault(("base", size), payload(size))
        self.failed = threading.Event()
        self.error = None
        self.lock = threading.Lock()
        self.latencies = [[] for _ in clients]
        self.counted = [0] * len(clients)
        self.done = [0] * len(clients)
        # The key each thread's call in progress names, for the error report.
        self.current = ["-"] * len(clients)

    def fail(self, error: Exception, op: str, key: str):
        with self.lock:
            if self.error is None:
                self.error = describe(error, self.name, op, key)
        self.failed.set()

    def put(self, client, thread, index):
        key = f"{self.args.prefix}/{self.name}/{thread:02d}/{index:08d}"
        self.current[thread] = key
        body = body_for(self.base, thread, index)
        response = client.put_object(
            Bucket=self.args.bucket,
            Key=key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_id,
        )
        check_sse(response, "PutObject", key, self.kms_key_id)
        self.stored.setdefault((self.size, thread), []).append((key, thread, index))

    def get(self, client, thread, step):
        keys = self.stored[("all", self.size)]
        # Each thread starts at its own place in the list and walks on from there.
        key, owner, index = keys[(thread * len(keys) // len(self.clients) + step) % len(keys)]
        self.current[thread] = key
        response = client.get_object(Bucket=self.args.bucket, Key=key)
        data = response["Body"].read()
        check_sse(response, "GetObject", key, self.kms_key_id)
        expected = body_for(self.base, owner, index)
        if data != expected:
            raise BenchError(
                {
                    "message": f"GetObject of {key} returned {len(data)} bytes that differ "
                    f"from the {len(expected)} put",
                    "request_id": response.get("ResponseMetadata", {}).get("RequestId"),
                }
            )

    def worker(self, thread, start_at, measure_from, end_at, quota):
        client = self.clients[thread]
        call = self.put if self.op == "put" else self.get
        latencies = self.latencies[thread]
        while time.perf_counter() < start_at:
            time.sleep(0.0005)
        step = 0
        while not self.failed.is_set():
            if quota is not None:
                if step >= quota:
                    break
            elif time.perf_counter() >= end_at:
                break
            began = time.perf_counter()
            try:
                call(client, thread, step)
            except Exception as error:  # noqa: BLE001 - every failure stops the run
                operation = "PutObject" if self.op == "put" else "GetObject"
                self.fail(error, operation, self.current[thread])
                return
            ended = time.perf_counter()
            step += 1
            self.done[thread] += 1
            if quota is not None or measure_from <= ended <= end_at:
                self.counted[thread] += 1
                latencies.append(ended - began)

    def run(self, watch, postgres) -> dict:
        if self.op == "get":
            keys = [k for t in range(len(self.clients)) for k in self.stored.get((self.size, t), [])]
            if not keys:
                raise SystemExit(f"s3_boto3.py: {self.name} needs the PUT phase of the same size first")
            self.stored[("all", self.size)] = keys
        threads_n = len(self.clients)
        quota = None
        if self.args.count is not None:
            quota = [self.args.count // threads_n + (1 if t < self.args.count % threads_n else 0) for t in range(threads_n)]
        start_at = time.perf_counter() + 0.05
        measure_from = start_at + (0 if quota else self.args.warmup_seconds)
        end_at = measure_from + (0 if quota else self.args.seconds)
        threads = [
            threading.Thread(
                target=self.worker,
                args=(t, start_at, measure_from, end_at, quota[t] if quota else None),
                daemon=True,
            )
            for t in range(threads_n)
        ]
        for thread in threads:
            thread.start()
        if quota is None:
            time.sleep(max(0.0, measure_from - time.perf_counter()))
            before = CpuMark(watch, postgres)
            time.sleep(max(0.0, end_at - time.perf_counter()))
            after = CpuMark(watch, postgres)
            for thread in threads:
                thread.join()
        else:
            before = CpuMark(watch, postgres)
            for thread in threads:
                thread.join()
            after = CpuMark(watch, postgres)
        cpu = after.since(before)
        latencies = sorted(x for per in self.latencies for x in per)
        ops = sum(self.counted)
        seconds = cpu["wall"]

        def quantile(q):
            if not latencies:
                return 0.0
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

        return {
            "phase": self.name,
            "operation": "PutObject" if self.op == "put" else "GetObject",
            "object_bytes": self.size,
            "ops": ops,
            "ops_all": sum(self.done),
            "seconds": seconds,
            "ops_per_s": ops / seconds if seconds > 0 else 0.0,
            "mib_per_s": ops * self.size / MIB / seconds if seconds > 0 else 0.0,
            "p50_ms": quantile(0.50),
            "p99_ms": quantile(0.99),
            "max_ms": latencies[-1] * 1000.0 if latencies else 0.0,
            "errors": 0 if self.error is None else 1,
            "cpu_s": cpu,
        }


def setup(args) -> str:
    """The bucket and, with --create-kms-key, a KMS key at the same endpoint; returns
    the SSE-KMS key id every PUT names."""
    kms_key_id = args.kms_key_id
    if args.create_kms_key:
        kms = boto3.session.Session().client(
            "kms",
            endpoint_url=args.endpoint,
            region_name=args.region,
            aws_access_key_id=args.access_key,
            aws_secret_access_key=args.secret_key,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        key = kms.create_key(Description="s3_boto3.py SSE-KMS key")["KeyMetadata"]
        kms_key_id = key["KeyId"]
    if args.create_bucket:
        s3_client(args).create_bucket(Bucket=args.bucket)
    return kms_key_id


def watched_pids(parser, items: list[str]) -> dict[str, int]:
    """`--watch NAME=PID` values as a dict; a bad one is the parser's error."""
    pids = {}
    for item in items:
        name, _, pid = item.partition("=")
        if not name or not pid.isdigit():
            parser.error(f"--watch takes NAME=PID, not {item!r}")
        pids[name] = int(pid)
    return pids


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:9000")
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", default="s3-boto3-bench")
    parser.add_argument("--create-bucket", action="store_true", help="CreateBucket first")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--kms-key-id", help="SSE-KMS key: id, ARN or alias/NAME")
    key.add_argument(
        "--create-kms-key",
        action="store_true",
        help="CreateKey at the same endpoint first (moto) and use it",
    )
    parser.add_argument("--threads", type=int, default=4)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    length.add_argument("--count", type=int, help="operations per phase, all counted")
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated, from: " + ", ".join(PHASES),
    )
    parser.add_argument("--prefix", default=None, help="key prefix (default: a fresh uuid)")
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="report this process's CPU per phase",
    )
    parser.add_argument("--watch-postgres", action="store_true", help="and every postgres process's")
    parser.add_argument("--label", default="", help="a name for this run in the output")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.threads < 1 or (args.count is not None and args.count < 1) or args.seconds <= 0:
        parser.error("--threads, --count and --seconds must be positive")
    args.phase_list = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in args.phase_list if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; known: {list(PHASES)}")
    args.watch_pids = watched_pids(parser, args.watch)
    args.prefix = args.prefix or f"boto3-{uuid.uuid4().hex[:12]}"
    return args


def table(report: dict) -> str:
    lines = [
        f"s3_boto3.py {report['label'] or report['endpoint']}: {report['threads']} threads, "
        f"bucket {report['bucket']}, SSE-KMS key {report['kms_key_id']}; "
        f"boto3 {report['boto3']}, Python {report['python']}",
        "| phase | ops | ops/s | MiB/s | p50 ms | p99 ms | max ms | client CPU ms/op |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in report["phases"]:
        per_op = p["cpu_s"]["client"] * 1000.0 / max(p["ops"], 1)
        lines.append(
            f"| {p['phase']} | {p['ops']} | {p['ops_per_s']:.1f} | {p['mib_per_s']:.2f} | "
            f"{p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['max_ms']:.2f} | {per_op:.2f} |"
        )
    if report["error"]:
        lines.append("FAILED: " + json.dumps(report["error"]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {
        "label": args.label,
        "endpoint": args.endpoint,
        "bucket": args.bucket,
        "threads": args.threads,
        "seconds": None if args.count is not None else args.seconds,
        "warmup_seconds": None if args.count is not None else args.warmup_seconds,
        "count": args.count,
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "python": platform.python_version(),
        "kms_key_id": None,
        "phases": [],
        "error": None,
    }
    try:
        report["kms_key_id"] = kms_key_id = setup(args)
    except Exception as error:  # noqa: BLE001
        report["error"] = describe(error, "setup", "CreateBucket/CreateKey", args.bucket)
        kms_key_id = None
    if report["error"] is None:
        clients = [s3_client(args) for _ in range(args.threads)]
        stored: dict = {}
        for name in args.phase_list:
            op, size = PHASES[name]
            if not args.json:
                print(f"s3_boto3.py: {name} ...", file=sys.stderr, flush=True)
            phase = Phase(name, op, size, args, clients, stored, kms_key_id)
            result = phase.run(args.watch_pids, args.watch_postgres)
            report["phases"].append(result)
            if phase.error is not None:
                report["error"] = phase.error
                break
    if args.json:
        print(json.dumps(report))
    else:
        sys.stdout.write(table(report))
    if report["error"] is not None:
        print("s3_boto3.py: FAILED: " + json.dumps(report["error"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
