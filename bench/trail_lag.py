#!/usr/bin/env python3
"""Delivery lag of trails in a running `keyhold up` stack (see BENCHMARKS.md, trails).

Creates myTrail into a new bucket (CreateTrail with createS3Bucket, over gRPC framed
by hand and sent with curl, so nothing but curl and boto3 is needed), selects every
S3 object's data events, starts logging, then PUTs N objects through the S3 endpoint,
one every 0.5 s, and reads the delivered log files back until each PUT's record is
found. The lag of a record is its log file's LastModified minus its eventTime.
Prints the lag's min, p50, p99, max and mean, and DUPLICATE for a record found in two
files.

    python3 bench/trail_lag.py [bucket] [N]     # defaults: mycloudtrailbucket1 120
"""
import subprocess, struct, time, gzip, json, datetime, sys, statistics
import boto3
from botocore.config import Config

AUTH = "authorization: Bearer AKIAKEYHOLDDEVUSER01:dev-only-user-0001-secret-not-for-production"
BUCKET = sys.argv[1] if len(sys.argv) > 1 else "mycloudtrailbucket1"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 120

def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out

def s(field, text):
    data = text.encode() if isinstance(text, str) else text
    return varint((field << 3) | 2) + varint(len(data)) + data

def b(field):
    return varint(field << 3) + b"\x01"

def grpc(method, msg):
    frame = b"\x00" + struct.pack(">I", len(msg)) + msg
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-X", "POST",
        "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", AUTH,
        "--data-binary", "@-", "-D", "-", "-o", "/dev/null",
        f"http://127.0.0.1:50053/keyhold.audit.v1.TrailService/{method}"],
        input=frame, capture_output=True)
    status = [l for l in r.stdout.decode(errors="replace").splitlines() if l.lower().startswith("grpc-")]
    print(method, status)

grpc("CreateTrail", s(1, "myTrail") + s(2, BUCKET) + b(100))
selector = s(1, "All") + b(2) + s(3, s(1, "AWS::S3::Object") + s(2, "arn:aws:s3"))
grpc("PutEventSelectors", s(1, "myTrail") + s(2, selector))
grpc("StartLogging", s(1, "myTrail"))

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", region_name="us-east-1",
    aws_access_key_id="AKIAKEYHOLDDEVUSER01",
    aws_secret_access_key="dev-only-user-0001-secret-not-for-production",
    config=Config(s3={"addressing_style": "path"}))
keys = []
for i in range(N):
    key = f"lag/{i}.txt"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    keys.append(key)
    time.sleep(0.5)
wanted = {f"arn:aws:s3:::{BUCKET}/{k}" for k in keys}
deadline = time.time() + 60
lags = {}
while time.time() < deadline and len(lags) < len(wanted):
    time.sleep(2)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="AWSLogs/")
    for page in pages:
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            for r in json.loads(gzip.decompress(body))["Records"]:
                if r["eventName"] != "PutObject": continue
                arns = {res["ARN"] for res in r.get("resources", [])} & wanted
                for arn in arns:
                    t = datetime.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                    lag = (obj["LastModified"] - t).total_seconds()
                    if arn in lags and lags[arn][1] != obj["Key"]:
                        print("DUPLICATE", arn)
                    lags[arn] = (lag, obj["Key"])
values = sorted(l for l, _ in lags.values())
print(f"delivered {len(values)}/{len(wanted)}")
if values:
    q = lambda p: values[min(len(values) - 1, int(p * len(values)))]
    print(f"lag s: min {values[0]} p50 {q(0.5)} p99 {q(0.99)} max {values[-1]} mean {statistics.mean(values):.2f}")
