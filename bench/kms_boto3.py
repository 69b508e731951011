#!/usr/bin/env python3
"""boto3 against a KMS endpoint: keyhold's AWS JSON port and moto's server, same run.

Two phases per server, in this order: GenerateDataKey (AES_256), then Encrypt+Decrypt
(one operation = an Encrypt of 64 bytes and the Decrypt of its ciphertext, the
plaintext compared). `--threads` threads (4 by default) each use their own boto3
client, no retries: any failed request is an error.

The server CPU of each operation is read from /proc over each phase's measured window:
for keyhold, the processes named with `--watch NAME=PID` (kms-svc, and audit-svc when
it runs) plus every postgres process; for moto, its server process, which this script
starts (`python -m moto.server`, from `pip install 'moto[server]'`) unless `--no-moto`.

    cargo build --release --bins && target/release/keyhold up &
    python3 bench/kms_boto3.py --endpoint http://127.0.0.1:9001 \\
        --watch kms-svc=$(pgrep -x kms-svc) --watch audit-svc=$(pgrep -x audit-svc)

keyhold's key is made with a key policy that lets the benchmark user use it, so every
measured call is authenticated, evaluated against the key policy and recorded (when
kms-svc streams its records to audit-svc, as under `keyhold up`).

Exit codes: 0 every request succeeded; 1 a request failed (printed); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_boto3 import CpuMark, watched_pids  # noqa: E402  (the S3 bench's /proc accounting)

USER1 = ("AKIAKEYHOLDDEVUSER01", "dev-only-user-0001-secret-not-for-production")
USER1_ARN = "arn:aws:iam::000000000000:user/AWSLabsUser-0001"
PLAINTEXT = bytes(range(64))


def key_policy() -> str:
    """The account's root statement and one that lets the benchmark user do
    everything with the key (administer it, and use it)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "Benchmark user",
                    "Effect": "Allow",
                    "Principal": {"AWS": USER1_ARN},
                    "Action": "kms:*",
                    "Resource": "*",
                },
            ],
        }
    )


def client(endpoint: str, keys: tuple[str, str]):
    return boto3.session.Session().client(
        "kms",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def generate(kms, key_id):
    response = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    if len(response["Plaintext"]) != 32:
        raise RuntimeError("GenerateDataKey returned a plaintext that is not 32 bytes")


def encrypt_decrypt(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    if kms.decrypt(CiphertextBlob=blob)["Plaintext"] != PLAINTEXT:
        raise RuntimeError("Decrypt returned another plaintext")


def run_phase(name, call, clients, key_id, args, watch) -> dict:
    """`call` from every thread until the window closes; an operation counts when it
    completes inside the window."""
    start = time.perf_counter() + args.warmup_seconds
    end = start + args.seconds
    latencies = [[] for _ in clients]
    errors = []

    def work(index):
        kms = clients[index]
        while not errors:
            sent = time.perf_counter()
            if sent >= end:
                return
            try:
                call(kms, key_id)
            except Exception as error:  # noqa: BLE001
                errors.append(f"{name}: {error}")
                return
            done = time.perf_counter()
            if start <= done < end:
                latencies[index].append(done - sent)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start - time.perf_counter()))
    before = CpuMark(watch, postgres=args.watch_postgres)
    time.sleep(max(0.0, end - time.perf_counter()))
    after = CpuMark(watch, postgres=args.watch_postgres)
    for thread in threads:
        thread.join()
    spent = after.since(before)
    ops = sorted(x for each in latencies for x in each)
    server = sum(spent.get(n, 0.0) for n in watch) + spent.get("postgres", 0.0)
    pick = lambda q: ops[min(len(ops) - 1, int(q * len(ops)))] * 1000.0 if ops else 0.0  # noqa: E731
    return {
        "phase": name,
        "ops": len(ops),
        "ops_per_s": len(ops) / args.seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "server_cpu_ms_per_op": server * 1000.0 / max(len(ops), 1),
        "cpu_s": spent,
        "error": errors[0] if errors else None,
    }


def measure(label, endpoint, keys, policy, watch, args) -> dict:
    setup = client(endpoint, keys)
    created = setup.create_key(Description="kms_boto3.py", **({"Policy": policy} if policy else {}))
    key_id = created["KeyMetadata"]["KeyId"]
    clients = [client(endpoint, keys) for _ in range(args.threads)]
    phases = []
    for name, call in (("GenerateDataKey", generate), ("Encrypt+Decrypt", encrypt_decrypt)):
        print(f"kms_boto3.py: {label} {name} ...", file=sys.stderr, flush=True)
        phases.append(run_phase(name, call, clients, key_id, args, watch))
        if phases[-1]["error"]:
            break
    return {"label": label, "endpoint": endpoint, "phases": phases}


def start_moto(args):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(os.path.join(args.log_dir, "moto.log"), "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto's server did not start (pip install 'moto[server]')")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:9001", help="keyhold's AWS KMS port")
    parser.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    parser.add_argument("--no-postgres", dest="watch_postgres", action="store_false")
    parser.add_argument("--no-moto", dest="moto", action="store_false")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--log-dir", default="/tmp")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.watch_pids = watched_pids(parser, args.watch)
    if args.threads < 1 or args.seconds <= 0:
        parser.error("--threads and --seconds must be positive")
    return args


def table(report) -> str:
    lines = [
        f"kms_boto3.py: {report['threads']} threads, {report['seconds']} s per phase",
        "| server | phase | ops/s | p50 ms | p99 ms | server CPU ms/op |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in report["runs"]:
        for p in run["phases"]:
            lines.append(
                f"| {run['label']} | {p['phase']} | {p['ops_per_s']:.1f} | {p['p50_ms']:.2f} | "
                f"{p['p99_ms']:.2f} | {p['server_cpu_ms_per_op']:.3f} |"
            )
    for phase, ratio in report.get("cpu_ratio", {}).items():
        verdict = "PASS" if ratio <= 0.1 else "FAIL"
        lines.append(
            f"{phase}: keyhold server CPU per op = {ratio:.3f} of moto's: {verdict} (target <= 0.1)"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {"threads": args.threads, "seconds": args.seconds, "runs": []}
    keyhold_watch = dict(args.watch_pids)
    report["runs"].append(measure("keyhold", args.endpoint, USER1, key_policy(), keyhold_watch, args))
    if args.moto:
        moto, endpoint = start_moto(args)
        try:
            no_postgres = argparse.Namespace(**{**vars(args), "watch_postgres": False})
            report["runs"].append(
                measure("moto", endpoint, ("test", "test"), None, {"moto": moto.pid}, no_postgres)
            )
        finally:
            moto.terminate()
            moto.wait()
        keyhold, moto_run = report["runs"]
        report["cpu_ratio"] = {
            k["phase"]: k["server_cpu_ms_per_op"] / m["server_cpu_ms_per_op"]
            for k, m in zip(keyhold["phases"], moto_run["phases"])
            if m["server_cpu_ms_per_op"] > 0
        }
    print(json.dumps(report) if args.json else table(report))
    failed = [p["error"] for run in report["runs"] for p in run["phases"] if p["error"]]
    if failed:
        print("kms_boto3.py: FAILED: " + failed[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
