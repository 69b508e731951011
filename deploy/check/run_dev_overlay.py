"""Runs the rendered dev overlay's keyhold workloads with podman, as a kubelet would,
and probes them as the manifests say.

An equivalent of `podman kube play`, which cannot do it here: podman 4.3's kube
play runs neither StatefulSets nor gRPC probes, and this machine cannot pull the
postgres image. So, from the rendered manifests themselves:

- each pod gets its own network namespace (kh-<pod>, made here: the project's own
  test hosts), joined to the others by a bridge in a namespace of its own; each
  Service name resolves (--add-host) to its pod's address, as cluster DNS would;
- Postgres: a private server of this machine's binaries, in the namespace of the
  `postgres` pod, initialised by the postgres-dev component's own init script with
  the overlay's Secret postgres-dev-secrets; the otel collector is not run (its
  image cannot be pulled; the services' export to it is best-effort);
- each keyhold container runs with the manifest's image, command, args, env
  (envFrom ConfigMaps included), Secret and ConfigMap volumes written as files
  (defaultMode, group = fsGroup), emptyDir and volumeClaimTemplates as
  directories, runAsUser/runAsGroup/fsGroup, a read-only root filesystem, all
  capabilities dropped and no-new-privileges;
- the startup, readiness and liveness probes of each container are run as
  written (grpc port + service) with `buf curl` against grpc.health.v1, in the
  pod's namespace, within the startup probe's period x failureThreshold.

Then `--smoke` runs a few lab steps through the pods' addresses: CreateKey,
Encrypt/Decrypt, an SSE-KMS PUT/GET over S3 with the AWS CLI, and LookupEvents
finding them. NetworkPolicies are not enforced here.

Needs root, podman with runc, iproute2, Postgres server binaries, buf (the
`buf` of .ci/run's tools) and, for --smoke, the AWS CLI.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

PODMAN = ["podman"]
RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
SUBNET = "10.233.77"
SERVICES = ["audit-svc", "kms-svc", "object-svc"]  # the order of `keyhold up` and the Tiltfile


def sh(*args, check=True, capture=False, env=None, input=None):
    result = subprocess.run(args, check=False, text=True, env=env, input=input,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if check and result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(args)}\n{result.stdout or ''}")
    return result


class Cluster:
    def __init__(self, docs, work, buf, prefix):
        self.docs = docs
        self.work = work
        self.buf = buf
        self.prefix = prefix
        self.bridge_ns = f"{prefix}-br"
        self.pods = {}        # pod name -> (netns, ip)
        self.containers = []
        self.postgres_dir = None

    def find(self, kind, name):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        raise SystemExit(f"{kind}/{name} is not in the rendered overlay")

    # -- network ------------------------------------------------------------
    def network(self):
        sh("ip", "netns", "add", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for i, pod in enumerate(["postgres"] + SERVICES):
            ns, ip = f"{self.prefix}-{pod}", f"{SUBNET}.{10 + i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", self.bridge_ns, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.bridge_ns, "link", "set", f"v{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.pods[pod] = (ns, ip)

    def hosts(self):
        # Service name -> the address of the pod its selector picks.
        flags = []
        for d in self.docs:
            if d["kind"] != "Service":
                continue
            selected = d["spec"]["selector"].get("app.kubernetes.io/name")
            if selected in self.pods:
                flags += ["--add-host", f"{d['metadata']['name']}:{self.pods[selected][1]}"]
        return flags

    # -- postgres -------------------------------------------------------------
    def postgres(self, pg_bin):
        secret = self.secret_files("postgres-dev-secrets", os.path.join(self.work, "postgres-secrets"), 0o440, gid=None)
        data = os.path.join(self.work, "postgres")
        os.makedirs(data)
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(secret, "postgres", "postgres")
        for f in os.listdir(secret):
            shutil.chown(os.path.join(secret, f), "postgres", "postgres")
        ns, ip = self.pods["postgres"]
        as_pg = ["runuser", "-u", "postgres", "--"]
        sh(*as_pg, f"{pg_bin}/initdb", "-D", data, "-U", "postgres", "--auth-local=trust",
           "--auth-host=scram-sha-256", f"--pwfile={secret}/postgres-password", capture=True)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write(f"listen_addresses = '{ip}'\nunix_socket_directories = '{data}'\nport = 5432\n")
        # As the postgres image does: password logins from any address.
        with open(os.path.join(data, "pg_hba.conf"), "a") as f:
            f.write("host all all all scram-sha-256\n")
        sh("ip", "netns", "exec", ns, *as_pg, f"{pg_bin}/pg_ctl", "-D", data, "-l", os.path.join(data, "log"), "-w", "start", capture=True)
        self.postgres_dir = (ns, data, pg_bin)
        # The component's own init script, with the overlay's passwords.
        init = self.find("ConfigMap", next(d["metadata"]["name"] for d in self.docs
                                           if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("postgres-dev-init")))
        script = os.path.join(self.work, "init.sh")
        with open(script, "w") as f:
            f.write(init["data"]["10-keyhold-databases.sh"])
        os.chmod(script, 0o555)
        env = dict(os.environ, POSTGRES_USER="postgres", PGHOST=data, KEYHOLD_DB_SECRETS_DIR=secret,
                   PATH=f"{pg_bin}:{os.environ['PATH']}")
        sh("ip", "netns", "exec", ns, "runuser", "-u", "postgres", "--preserve-environment", "--", script, env=env, capture=True)
        print(f"postgres: {ip}:5432, databases created by the postgres-dev init script")

    # -- volumes ------------------------------------------------------------
    def secret_files(self, name, path, mode, gid):
        doc = self.find("Secret", name)
        os.makedirs(path, exist_ok=True)
        for key, value in doc.get("data", {}).items():
            self.write(path, key, base64.b64decode(value), mode, gid)
        for key, value in doc.get("stringData", {}).items():
            self.write(path, key, value.encode(), mode, gid)
        return path

    def write(self, path, key, data, mode, gid):
        file = os.path.join(path, key)
        with open(file, "wb") as f:
            f.write(data)
        os.chmod(file, mode)
        if gid is not None:
            os.chown(file, 0, gid)

    def volume(self, pod, volume, claims, fs_group):
        path = os.path.join(self.work, pod, volume["name"])
        if "secret" in volume:
            mode = volume["secret"].get("defaultMode", 0o644)
            return self.secret_files(volume["secret"]["secretName"], path, mode, fs_group)
        if "configMap" in volume:
            doc = self.find("ConfigMap", volume["configMap"]["name"])
            os.makedirs(path)
            for key, value in doc.get("data", {}).items():
                self.write(path, key, value.encode(), volume["configMap"].get("defaultMode", 0o644), fs_group)
            return path
        if "emptyDir" in volume or volume["name"] in claims:
            os.makedirs(path)
            os.chmod(path, 0o777 if "emptyDir" in volume else 0o2775)
            if fs_group is not None:
                os.chown(path, 0, fs_group)
            return path
        raise SystemExit(f"{pod}: volume {volume['name']} of an unsupported kind")

    # -- containers ---------------------------------------------------------
    def run(self, pod):
        workload = next(d for d in self.docs if d["kind"] in ("Deployment", "StatefulSet")
                        and d["metadata"]["name"] == pod)
        spec = workload["spec"]["template"]["spec"]
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        pod_sc = spec.get("securityContext", {})
        fs_group = pod_sc.get("fsGroup")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        volumes.update({c: {"name": c} for c in claims})
        (container,) = spec["containers"]
        sc = container.get("securityContext", {})
        args = ["run", "-d", "--name", f"{self.prefix}-{pod}", *RUN_FLAGS,
                "--network", f"ns:/run/netns/{self.pods[pod][0]}", *self.hosts()]
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        group = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        if user is not None:
            args += ["--user", f"{user}:{group if group is not None else user}"]
        if fs_group is not None:
            args += ["--group-add", str(fs_group)]
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
            args.append("--read-only-tmpfs=false")
        if "ALL" in sc.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", "ALL"]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        env = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.find("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
            else:
                raise SystemExit(f"{pod}: envFrom {source} not supported here")
        for var in container.get("env", []):
            if "value" not in var:
                raise SystemExit(f"{pod}: env {var['name']} has no plain value")
            env[var["name"]] = var["value"]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        for mount in container.get("volumeMounts", []):
            host = self.volume(pod, volumes[mount["name"]], claims, fs_group)
            args += ["--volume", f"{host}:{mount['mountPath']}:{'ro' if mount.get('readOnly') else 'rw'}"]
        args.append(container["image"])
        args += container.get("command", []) + container.get("args", [])
        sh(*PODMAN, *args, capture=True)
        self.containers.append((f"{self.prefix}-{pod}", spec.get("terminationGracePeriodSeconds", 30)))
        return container

    def probe(self, pod, probe):
        ns = self.pods[pod][0]
        grpc = probe["grpc"]
        result = sh("ip", "netns", "exec", ns, self.buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                    "--timeout", f"{probe.get('timeoutSeconds', 1)}s",
                    "-d", json.dumps({"service": grpc.get("service", "")}),
                    f"http://127.0.0.1:{grpc['port']}/grpc.health.v1.Health/Check", check=False, capture=True)
        return result.returncode == 0 and '"SERVING"' in result.stdout

    def wait_started(self, pod, container):
        startup = container["startupProbe"]
        deadline = time.monotonic() + startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        begun = time.monotonic()
        while time.monotonic() < deadline:
            if self.probe(pod, startup):
                break
            state = sh(*PODMAN, "inspect", "-f", "{{.State.Status}}", f"{self.prefix}-{pod}", capture=True).stdout.strip()
            if state != "running":
                self.logs(pod)
                raise SystemExit(f"{pod}: container {state} before its startup probe passed")
            time.sleep(startup.get("periodSeconds", 10))
        else:
            self.logs(pod)
            raise SystemExit(f"{pod}: startup probe did not pass within its budget")
        for kind in ("readinessProbe", "livenessProbe"):
            if not self.probe(pod, container[kind]):
                self.logs(pod)
                raise SystemExit(f"{pod}: {kind} failed after startup")
        print(f"{pod}: startup probe passed after {time.monotonic() - begun:.1f} s; readiness and liveness pass "
              f"(grpc {container['startupProbe']['grpc']['port']} {container['startupProbe']['grpc'].get('service', '')!r})")

    def logs(self, pod):
        sh(*PODMAN, "logs", "--tail", "40", f"{self.prefix}-{pod}", check=False)

    def stop(self):
        """SIGTERM, as a pod deletion sends it; each must exit within its grace."""
        for name, grace in reversed(self.containers):
            begun = time.monotonic()
            sh(*PODMAN, "stop", "-t", str(grace), name, check=False, capture=True)
            took = time.monotonic() - begun
            code = sh(*PODMAN, "inspect", "-f", "{{.State.ExitCode}}", name, capture=True).stdout.strip()
            print(f"{name.split('-', 1)[1]}: exited {code} {took:.1f} s after SIGTERM "
                  f"(terminationGracePeriodSeconds {grace})")
            if code != "0" or took >= grace:
                self.logs(name.split("-", 1)[1])
                raise SystemExit(f"{name}: did not stop cleanly within its grace period")

    def cleanup(self):
        for name, _ in reversed(self.containers):
            sh(*PODMAN, "rm", "-f", "-t", "5", name, check=False, capture=True)
        if self.postgres_dir:
            ns, data, pg_bin = self.postgres_dir
            sh("ip", "netns", "exec", ns, "runuser", "-u", "postgres", "--", f"{pg_bin}/pg_ctl", "-D", data, "-m", "fast", "stop",
               check=False, capture=True)
        for ns, _ in list(self.pods.values()) + [(self.bridge_ns, None)]:
            sh("ip", "netns", "del", ns, check=False, capture=True)


def smoke(cluster, docs):
    """A few lab steps through the pods' addresses, as the README's examples do."""
    principals = json.loads(base64.b64decode(cluster.find("Secret", "keyhold-principals")["data"]["principals.json"]))
    user = next(p for p in principals["principals"] if p["name"] == "AWSLabsUser-0001")
    bearer = f"authorization: Bearer {user['access_key_id']}:{user['secret_access_key']}"
    ns = cluster.pods["object-svc"][0]   # a client inside the cluster network
    kms = f"http://{cluster.pods['kms-svc'][1]}:50051"
    audit = f"http://{cluster.pods['audit-svc'][1]}:50053"

    def call(url, method, body):
        out = sh("ip", "netns", "exec", ns, cluster.buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                 "-H", bearer, "-d", json.dumps(body), f"{url}/{method}", capture=True)
        return json.loads(out.stdout or "{}")

    key = call(kms, "keyhold.kms.v1.KmsService/CreateKey",
               {"description": "kube smoke", "keyAdministrators": [user["name"]], "keyUsers": [user["name"]]})
    key_id = key["keyMetadata"]["keyId"]
    blob = call(kms, "keyhold.kms.v1.KmsService/Encrypt", {"keyId": key_id, "plaintext": "aGVsbG8="})["ciphertextBlob"]
    plain = call(kms, "keyhold.kms.v1.KmsService/Decrypt", {"ciphertextBlob": blob})["plaintext"]
    assert plain == "aGVsbG8=", plain
    print(f"smoke: kms-svc CreateKey {key_id}, Encrypt, Decrypt round trip")

    s3 = f"http://{cluster.pods['object-svc'][1]}:9000"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=user["access_key_id"], AWS_SECRET_ACCESS_KEY=user["secret_access_key"],
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    body = os.path.join(cluster.work, "object.txt")
    with open(body, "w") as f:
        f.write("hello from the dev overlay\n")
    aws = ["ip", "netns", "exec", ns, "aws", "--endpoint-url", s3, "s3api"]
    sh(*aws, "create-bucket", "--bucket", "kube-smoke", env=env, capture=True)
    sh(*aws, "put-object", "--bucket", "kube-smoke", "--key", "hello.txt", "--body", body,
       "--server-side-encryption", "aws:kms", "--ssekms-key-id", key_id, env=env, capture=True)
    got = os.path.join(cluster.work, "got.txt")
    head = sh(*aws, "get-object", "--bucket", "kube-smoke", "--key", "hello.txt", got, env=env, capture=True).stdout
    assert open(got).read() == open(body).read()
    assert "aws:kms" in head, head
    print("smoke: object-svc S3 CreateBucket, PutObject SSE-KMS (object-svc -> kms-svc), GetObject round trip")

    # The AWS JSON protocols on the ports the manifests declare: `aws kms` and
    # `aws cloudtrail`, pointed there by AWS_ENDPOINT_URL_<SERVICE>.
    aws_env = dict(env, AWS_ENDPOINT_URL_KMS=f"http://{cluster.pods['kms-svc'][1]}:9001",
                   AWS_ENDPOINT_URL_CLOUDTRAIL=f"http://{cluster.pods['audit-svc'][1]}:9002")
    cli = ["ip", "netns", "exec", ns, "aws", "--output", "json"]
    described = json.loads(sh(*cli, "kms", "describe-key", "--key-id", key_id, env=aws_env, capture=True).stdout)
    assert described["KeyMetadata"]["KeyId"] == key_id, described
    trails = json.loads(sh(*cli, "cloudtrail", "describe-trails", env=aws_env, capture=True).stdout)
    assert trails == {"trailList": []}, trails
    print("smoke: aws kms describe-key (kms-svc :9001) and aws cloudtrail describe-trails (audit-svc :9002)")

    deadline = time.monotonic() + 30
    while True:
        events = call(audit, "keyhold.audit.v1.AuditService/LookupEvents", {"maxResults": 50}).get("events", [])
        names = {e.get("eventName") for e in events}
        if {"CreateKey", "GenerateDataKey", "CreateBucket"} <= names or time.monotonic() > deadline:
            break
        time.sleep(1)
    missing = {"CreateKey", "GenerateDataKey", "CreateBucket"} - names
    assert not missing, f"LookupEvents lacks {missing}: {sorted(names)}"
    print(f"smoke: audit-svc LookupEvents shows CreateKey, GenerateDataKey (object-svc for the user) and CreateBucket ({len(events)} events)")

    # Each service's metrics port, as its manifest declares it, counts what the smoke did.
    expected = {
        "kms-svc": 'keyhold_grpc_server_requests_total{operation="keyhold.kms.v1.KmsService/CreateKey",error_code=""} 1',
        "object-svc": 'keyhold_s3_requests_total{operation="PutObject",error_code=""} 1',
        "audit-svc": 'keyhold_grpc_server_requests_total{operation="keyhold.audit.v1.AuditService/LookupEvents",error_code=""}',
    }
    for name, line in expected.items():
        workload = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] == name)
        port = next(p["containerPort"] for c in workload["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", []) if p.get("name") == "metrics")
        text = sh("ip", "netns", "exec", ns, "curl", "-sf", f"http://{cluster.pods[name][1]}:{port}/metrics",
                  capture=True).stdout
        assert line in text, f"{name}'s metrics lack {line!r}:\n{text}"
    print("smoke: each service's metrics port counts the calls above (per gRPC method and S3 operation)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rendered", help="kubectl kustomize deploy/overlays/dev output")
    parser.add_argument("--buf", required=True, help="the buf binary")
    parser.add_argument("--pg-bin", required=True, help="the Postgres server binaries' directory")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--prefix", default=f"kh{os.getpid() % 10000}")
    args = parser.parse_args()
    with open(args.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    work = tempfile.mkdtemp(prefix="keyhold-kube-")
    os.chmod(work, 0o755)
    cluster = Cluster(docs, work, args.buf, args.prefix)
    started = time.monotonic()
    try:
        cluster.network()
        cluster.postgres(args.pg_bin)
        for pod in SERVICES:
            cluster.wait_started(pod, cluster.run(pod))
        if args.smoke:
            smoke(cluster, docs)
        cluster.stop()
        print(f"dev overlay: {len(SERVICES)} workloads up and probed in {time.monotonic() - started:.1f} s")
    finally:
        cluster.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
