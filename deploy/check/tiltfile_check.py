"""Evaluates the repository's Tiltfile without Tilt and checks what it would do.

Tilt cannot be installed in CI, so its Tiltfile is run by a Starlark interpreter
(starlark-rust, through the starlark-pyo3 package) with Tilt's builtins recorded:
each builtin the Tiltfile uses is a Python function with Tilt's parameter names
(an unknown keyword or builtin fails the check), `kustomize()` renders with
`kubectl kustomize`, and `os.getenv()` answers its default. Then:

- every workload (Deployment, StatefulSet, DaemonSet, Job) of k8s_yaml has a
  k8s_resource, and every k8s_resource names a workload or local_resource;
- every image a workload runs is built by the Tiltfile (custom_build or
  docker_build) or pinned to a release tag of a registry image, and every image
  built is used;
- every port the README gives on 127.0.0.1 is forwarded to a port the workload
  declares (Postgres's 5432 excepted: the README means the machine's own server),
  and no local port is forwarded twice;
- resource_deps name resources, and each keyhold service waits for Postgres.
"""

import os
import re
import subprocess
import sys

import starlark as sl
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
SERVICES = {"kms-svc", "object-svc", "audit-svc"}
README_PORTS_NOT_FORWARDED = {5432: "the README's Postgres is the machine's own server", 0: "port 0 means any free port"}


class Recorder:
    def __init__(self):
        self.resources = []      # k8s_resource calls
        self.local = []          # local_resource names
        self.builds = []         # image refs built
        self.yaml_docs = []

    # Tilt's builtins, with Tilt's parameter names (docs.tilt.dev/api.html).
    def k8s_yaml(self, yaml, allow_duplicates=False):
        for blob in yaml if isinstance(yaml, list) else [yaml]:
            self.yaml_docs += [d for d in __import__("yaml").safe_load_all(blob) if d]

    def kustomize(self, pathToDir, kustomize_bin=None, flags=None):
        out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, pathToDir)],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def k8s_resource(self, workload="", new_name="", port_forwards=None, extra_pod_selectors=None,
                     trigger_mode=None, resource_deps=None, objects=None, auto_init=True,
                     pod_readiness="", links=None, labels=None, discovery_strategy=""):
        self.resources.append(dict(workload=workload, port_forwards=port_forwards or [],
                                   resource_deps=resource_deps or [], objects=objects or []))

    def local_resource(self, name, cmd="", deps=None, trigger_mode=None, resource_deps=None,
                       ignore=None, auto_init=True, serve_cmd="", cmd_bat="", serve_cmd_bat="",
                       allow_parallel=False, links=None, tags=None, env=None, serve_env=None,
                       readiness_probe=None, dir="", serve_dir="", labels=None):
        self.local.append(dict(name=name, resource_deps=resource_deps or []))

    def custom_build(self, ref, command="", deps=None, tag="", disable_push=False,
                     skips_local_docker=False, live_update=None, match_in_env_vars=False,
                     ignore=None, entrypoint=None, command_bat="", outputs_image_ref_to="",
                     container_args=None, image_deps=None, env=None, dir=""):
        self.builds.append(ref)

    def docker_build(self, ref, context, build_args=None, dockerfile="Dockerfile",
                     dockerfile_contents="", live_update=None, match_in_env_vars=False,
                     ignore=None, only=None, entrypoint=None, target="", ssh="",
                     network="", secret="", extra_tag="", container_args=None,
                     cache_from=None, pull=False, platform="", env=None):
        self.builds.append(ref)


def image_name(ref):
    """The image's name without tag or digest (Tilt matches builds by name)."""
    ref = ref.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    return ref[: len(ref) - len(last)] + last.split(":")[0]


def run_tiltfile(rec):
    module = sl.Module()
    for name in ("k8s_yaml", "kustomize", "k8s_resource", "local_resource", "custom_build", "docker_build"):
        module.add_callable(name, getattr(rec, name))
    module.add_callable("_getenv", lambda key, default=None: default)
    module["TRIGGER_MODE_AUTO"] = 0
    module["TRIGGER_MODE_MANUAL"] = 1
    dialect = sl.Dialect.extended()
    extensions = sl.Globals.extended_by([sl.LibraryExtension.StructType, sl.LibraryExtension.Print])
    sl.eval(module, sl.parse("prelude", "os = struct(getenv = _getenv)\n", dialect), extensions)
    with open(os.path.join(ROOT, "Tiltfile")) as f:
        sl.eval(module, sl.parse("Tiltfile", f.read(), dialect), extensions)


def main():
    rec = Recorder()
    run_tiltfile(rec)
    problems = []
    checks = 0

    workloads = {d["metadata"]["name"]: d for d in rec.yaml_docs if d["kind"] in WORKLOAD_KINDS}
    object_names = {(d["metadata"]["name"], d["kind"].lower()) for d in rec.yaml_docs}
    resources = {r["workload"]: r for r in rec.resources}
    local_names = {r["name"] for r in rec.local}

    checks += 1
    for name in sorted(set(workloads) - set(resources)):
        problems.append(f"workload {name} has no k8s_resource")
    for name in sorted(set(resources) - set(workloads)):
        problems.append(f"k8s_resource {name} names no workload of k8s_yaml")

    checks += 1
    built = {image_name(ref) for ref in rec.builds}
    used = set()
    for name, w in sorted(workloads.items()):
        spec = w["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            used.add(image_name(c["image"]))
            tagged = ":" in c["image"].rsplit("/", 1)[-1] or "@" in c["image"]
            if image_name(c["image"]) not in built and not tagged:
                problems.append(f"{name}: image {c['image']} is neither built by the Tiltfile nor a tagged release")
    for ref in sorted(built - used):
        problems.append(f"image {ref} is built but no workload runs it")

    checks += 1
    with open(os.path.join(ROOT, "README.md")) as f:
        readme_ports = {int(p) for p in re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", f.read())}
    forwarded = {}
    for r in rec.resources:
        declared = {p["containerPort"] for c in workloads[r["workload"]]["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])} if r["workload"] in workloads else set()
        for pf in r["port_forwards"]:
            local, _, remote = str(pf).rpartition(":")
            local, remote = int(local or remote), int(remote)
            if local in forwarded:
                problems.append(f"local port {local} forwarded twice ({forwarded[local]}, {r['workload']})")
            forwarded[local] = r["workload"]
            if remote not in declared:
                problems.append(f"{r['workload']}: forwards to port {remote}, which it does not declare")
    for port in sorted(readme_ports - set(forwarded) - set(README_PORTS_NOT_FORWARDED)):
        problems.append(f"README port {port} is not forwarded")

    checks += 1
    names = set(resources) | local_names
    for r in rec.resources + rec.local:
        who = r.get("workload") or r.get("name")
        for dep in r["resource_deps"]:
            if dep not in names:
                problems.append(f"{who}: resource_deps names {dep}, no resource")
        if who in SERVICES and "postgres" not in r["resource_deps"]:
            problems.append(f"{who} does not wait for postgres")
    for r in rec.resources:
        for obj in r["objects"]:
            name, _, kind = obj.partition(":")
            if (name, kind.split(":")[0].lower()) not in object_names:
                problems.append(f"{r['workload']}: objects names {obj}, not in k8s_yaml")

    for p in problems:
        print(f"Tiltfile: {p}")
    print(f"Tiltfile: {len(workloads)} workloads, {len(rec.builds)} image builds, "
          f"{len(forwarded)} port forwards (README ports {sorted(readme_ports)}); "
          f"{checks} checks, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
