"""Validates rendered manifests (multi-document YAML files).

Built-in kinds: strictly against the Kubernetes schemas of kubernetes-validate
(`--kubernetes-version`, default 1.32.0). Custom resources: against the CRD schemas
vendored in schemas/ (see schemas/README.md), made strict. A kind in neither fails.

Then what the schemas cannot say, for every pod template (Deployment,
StatefulSet): Pod Security Standard "restricted" (runAsNonRoot, no privilege
escalation, capabilities dropped to none, seccomp RuntimeDefault, no host
namespaces or hostPath), a read-only root filesystem, resources requests and
limits, and for keyhold's services: native gRPC probes (startup, readiness,
liveness) and terminationGracePeriodSeconds above KEYHOLD_SHUTDOWN_GRACE_SECONDS.
"""

import argparse
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KEYHOLD_SERVICES = {"kms-svc", "object-svc", "audit-svc"}
ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}


def strict(schema):
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema = dict(schema, additionalProperties=False)
        return {k: strict(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schema(doc, cache={}):
    group, _, version = doc["apiVersion"].rpartition("/")
    path = os.path.join(HERE, "schemas", group, f"{doc['kind'].lower()}_{version}.json")
    if not group or not os.path.exists(path):
        return None
    if path not in cache:
        with open(path) as f:
            cache[path] = strict(json.load(f))
    return cache[path]


def validate_schema(doc, version):
    schema = crd_schema(doc)
    if schema is not None:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {doc['apiVersion']} {doc['kind']}: vendor its CRD schema in deploy/check/schemas"]
    return []


def env_value(container, name, config_maps):
    for var in container.get("env", []):
        if var["name"] == name:
            return var.get("value")
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref and name in config_maps.get(ref["name"], {}):
            return config_maps[ref["name"]][name]
    return None


def check_pod(name, spec, config_maps):
    problems = []
    pod_sc = spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{key} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} is of a kind restricted forbids: {kinds}")
    if pod_sc.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("pod seccompProfile is not RuntimeDefault")
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        where = f"container {c['name']}"
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            problems.append(f"{where}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{where}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds capabilities {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{where}: no {resource} {kind[:-1]}")
        if c["name"] in KEYHOLD_SERVICES:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if "grpc" not in c.get(probe, {}):
                    problems.append(f"{where}: {probe} is not a native gRPC probe")
            grace = env_value(c, "KEYHOLD_SHUTDOWN_GRACE_SECONDS", config_maps)
            termination = spec.get("terminationGracePeriodSeconds", 30)
            if grace is None or int(grace) >= termination:
                problems.append(
                    f"{where}: terminationGracePeriodSeconds {termination} is not above "
                    f"KEYHOLD_SHUTDOWN_GRACE_SECONDS {grace}")
    return [f"{name}: {p}" for p in problems]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="1.32.0")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failures = 0
    for path in args.files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        config_maps = {d["metadata"]["name"]: d.get("data", {})
                       for d in docs if d["kind"] == "ConfigMap"}
        namespaces = [d for d in docs if d["kind"] == "Namespace"]
        problems = []
        for doc in docs:
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            problems += [f"{name}: {p}" for p in validate_schema(doc, args.kubernetes_version)]
            if doc["kind"] in ("Deployment", "StatefulSet"):
                problems += check_pod(name, doc["spec"]["template"]["spec"], config_maps)
        for ns in namespaces:
            labels = ns["metadata"].get("labels", {})
            if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
                problems.append(f"Namespace/{ns['metadata']['name']}: Pod Security restricted is not enforced")
        for p in problems:
            print(f"{path}: {p}")
        failures += len(problems)
        print(f"{path}: {len(docs)} resources, {len(problems)} problems")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
