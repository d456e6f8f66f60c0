#!/usr/bin/env python3
"""Cheap checks of deploy/ (no podman, no cluster; well under a second each).

  check_deploy.py --source DIR --clip-server BIN CHECK

CHECK is one of:
  kustomize     every deploy/k8s/overlays/* renders with `kubectl kustomize`
                into YAML that parses, and the rendered objects agree with
                each other and with clip-server (see check_rendered)
  yaml          every *.yaml under deploy/ parses
  compose       deploy/compose.yaml: the flags and CLIP_SERVER_* variables
                exist in `clip-server --help`, the runner's URLs name the
                services' ports and readiness routes
  containerfile deploy/Containerfile: labels, non-root user, HEALTHCHECK,
                EXPOSE = clip-server's default ports, build packages are in
                scripts/install-deps.sh; the health scripts ask real routes
Routes are read from the route tables in src/server/{kserve,rest}_api.cpp and
clip_server.cpp; flags, environment variables and default ports from the
real binary's --help.

Exit 0 pass, 1 fail, 77 skip (kubectl absent and CI unset: ctest reports it
as skipped; under CI=true a missing kubectl fails).
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # python3-yaml, installed by scripts/install-deps.sh
    print("FAIL: python3-yaml is missing (bash scripts/install-deps.sh)")
    sys.exit(1)

SKIP = 77
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


class Server:
    """What clip-server really accepts: flags, env names, default ports, routes."""

    def __init__(self, source, binary):
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise SystemExit(f"FAIL: {binary} --help exited {out.returncode}")
        self.help = out.stdout
        self.flags = set(re.findall(r"^\s+(--[a-z0-9-]+)", self.help, re.M))
        self.envs = set(re.findall(r"Env:(CLIP_SERVER_[A-Z0-9_]+)", self.help))
        self.default_port = {}
        for flag in ("--rest-port", "--http-port", "--grpc-port", "--metrics-port"):
            m = re.search(re.escape(flag) + r"[^\n]*\n[^\n]*\(default (\d+)\)", self.help)
            if not m:
                raise SystemExit(f"FAIL: no default for {flag} in --help")
            self.default_port[flag] = int(m.group(1))
        self.routes = {}
        for name in ("kserve_api.cpp", "rest_api.cpp", "clip_server.cpp"):
            text = open(os.path.join(source, "src", "server", name)).read()
            for method, path in re.findall(r'\{"(GET|POST)",\s*"(/[^"]*)"', text):
                self.routes.setdefault(name, set()).add((method, path))
        self.kserve = {p for _, p in self.routes.get("kserve_api.cpp", set())}
        self.rest = {p for _, p in self.routes.get("rest_api.cpp", set())}
        self.metrics = {p for _, p in self.routes.get("clip_server.cpp", set())}
        for kind, paths, must in (("kserve", self.kserve, "/v2/health/ready"),
                                  ("rest", self.rest, "/health"),
                                  ("metrics", self.metrics, "/metrics")):
            if must not in paths:
                raise SystemExit(f"FAIL: could not read the {kind} route table (no {must})")


def split_args(args):
    """['--a=1', '--b', '2', '--c'] -> {'--a': '1', '--b': '2', '--c': None}"""
    out, i = {}, 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
        elif a.startswith("--"):
            nxt = str(args[i + 1]) if i + 1 < len(args) else None
            if nxt is not None and not nxt.startswith("--"):
                out[a] = nxt
                i += 1
            else:
                out[a] = None
        i += 1
    return out


def check_flags_and_env(where, flags, envs, server):
    for f in flags:
        if f not in server.flags:
            fail(f"{where}: clip-server has no flag {f}")
    for e in envs:
        if e.startswith("CLIP_SERVER_") and e not in server.envs:
            fail(f"{where}: clip-server reads no variable {e}")
    ok(f"{where}: {len(flags)} flags and {len(envs)} CLIP_SERVER_* variables exist in clip-server --help")


def check_rendered(overlay, docs, server):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ConfigMap"):
        if len(by_kind.get(kind, [])) != 1:
            fail(f"{overlay}: expected one {kind}, got {len(by_kind.get(kind, []))}")
            return
    autoscalers = by_kind.get("HorizontalPodAutoscaler", []) + by_kind.get("ScaledObject", [])
    if len(autoscalers) != 1:
        fail(f"{overlay}: expected exactly one HPA or ScaledObject, got {len(autoscalers)}")
    dep, svc, pdb, cm = (by_kind[k][0] for k in ("Deployment", "Service", "PodDisruptionBudget", "ConfigMap"))
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"].get("labels", {})
    (c,) = [c for c in spec["containers"] if c["name"] == "clip-server"]
    args = split_args(c.get("args", []))
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    check_flags_and_env(f"{overlay} Deployment", list(args), list(env), server)

    # Ports: the flags, the named container ports, the probes, the Service.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    flag_of = {"http": "--http-port", "grpc": "--grpc-port", "metrics": "--metrics-port"}
    for name, flag in flag_of.items():
        want = int(args.get(flag) or server.default_port[flag])
        if ports.get(name) != want:
            fail(f"{overlay}: container port {name} is {ports.get(name)}, clip-server listens on {want} ({flag})")
    if args.get("--api") != "kserve":
        fail(f"{overlay}: the Deployment should serve --api=kserve, has {args.get('--api')}")
    if args.get("--host") not in ("0.0.0.0", "::"):
        fail(f"{overlay}: --host must be 0.0.0.0 in a pod (clip-server binds 127.0.0.1 by default)")
    probe_paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = c.get(probe)
        if not p or "httpGet" not in p:
            fail(f"{overlay}: {probe} missing or not httpGet")
            continue
        path, port = p["httpGet"]["path"], p["httpGet"]["port"]
        probe_paths[probe] = path
        if path not in server.kserve:
            fail(f"{overlay}: {probe} path {path} is no KServe route of clip-server")
        if port not in ports and port not in ports.values():
            fail(f"{overlay}: {probe} port {port} is not a container port")
        if ports.get(port, port) != ports["http"]:
            fail(f"{overlay}: {probe} does not ask the v2 HTTP port")
    if probe_paths.get("livenessProbe") != "/v2/health/live":
        fail(f"{overlay}: livenessProbe should ask /v2/health/live")
    for probe in ("startupProbe", "readinessProbe"):
        if probe_paths.get(probe) != "/v2/health/ready":
            fail(f"{overlay}: {probe} should ask /v2/health/ready")
    sp = c.get("startupProbe", {})
    if sp.get("failureThreshold", 3) * sp.get("periodSeconds", 10) < 120:
        fail(f"{overlay}: startupProbe allows under 120 s for a cold start")
    ok(f"{overlay}: probes {probe_paths} on port {ports.get('http')} are clip-server routes and ports")

    # Drain: grace period > preStop + --drain-timeout-s.
    drain = int(args.get("--drain-timeout-s") or env.get("CLIP_SERVER_DRAIN_TIMEOUT_S") or 30)
    pre = c.get("lifecycle", {}).get("preStop", {})
    cmd = pre.get("exec", {}).get("command", [])
    pre_s = int(cmd[1]) if len(cmd) == 2 and cmd[0] == "sleep" else int(pre.get("sleep", {}).get("seconds", 0))
    if not pre:
        fail(f"{overlay}: no preStop")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= drain + pre_s:
        fail(f"{overlay}: terminationGracePeriodSeconds {grace} <= preStop {pre_s} + --drain-timeout-s {drain}")
    else:
        ok(f"{overlay}: grace {grace} s > preStop {pre_s} s + drain {drain} s")

    # Selectors: Service, PDB and Deployment select the pod's labels.
    for what, sel in (("Service", svc["spec"]["selector"]),
                      ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"]),
                      ("Deployment", dep["spec"]["selector"]["matchLabels"])):
        missing = {k: v for k, v in sel.items() if labels.get(k) != v}
        if missing:
            fail(f"{overlay}: {what} selector {missing} does not match the pod labels {labels}")
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for name in ("http", "grpc", "metrics"):
        p = svc_ports.get(name)
        if not p:
            fail(f"{overlay}: Service has no {name} port")
        elif p.get("targetPort") not in (name, ports.get(name)):
            fail(f"{overlay}: Service port {name} targets {p.get('targetPort')}")
    ann = pod["metadata"].get("annotations", {})
    if ann.get("prometheus.io/port") and int(ann["prometheus.io/port"]) != ports["metrics"]:
        fail(f"{overlay}: prometheus.io/port {ann['prometheus.io/port']} is not the metrics port")
    if ann.get("prometheus.io/path") and ann["prometheus.io/path"] not in server.metrics:
        fail(f"{overlay}: prometheus.io/path {ann['prometheus.io/path']} is no route")
    ok(f"{overlay}: Service/PDB/Deployment selectors match pod labels; Service ports http/grpc/metrics")

    # The ConfigMap carries the config.pbtxt --model-config reads.
    mc = args.get("--model-config") or env.get("CLIP_SERVER_MODEL_CONFIG")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    found = False
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"], {})
        if "configMap" in v and mc and mc.startswith(m["mountPath"].rstrip("/") + "/"):
            key = mc[len(m["mountPath"].rstrip("/")) + 1:]
            if v["configMap"]["name"] != cm["metadata"]["name"]:
                fail(f"{overlay}: volume {m['name']} names ConfigMap {v['configMap']['name']}, rendered {cm['metadata']['name']}")
            elif key not in cm.get("data", {}):
                fail(f"{overlay}: ConfigMap has no key {key}")
            else:
                found = True
                pbtxt = cm["data"][key]
    if not found:
        fail(f"{overlay}: --model-config {mc} is not a key of the mounted ConfigMap")
    else:
        gpu_limit = c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
        kinds = re.findall(r"kind:\s*(KIND_\w+)", pbtxt)
        counts = [int(x) for x in re.findall(r"count:\s*(\d+)", pbtxt)]
        if gpu_limit is not None:
            if str(gpu_limit) != "1" or kinds != ["KIND_GPU"] or counts != [1]:
                fail(f"{overlay}: a GPU pod should have nvidia.com/gpu 1 and one KIND_GPU instance, "
                     f"has {gpu_limit}, {kinds}, {counts}")
            if env.get("CLIP_SERVER_DEVICE", "").split(":")[0] != "cuda" and not str(args.get("--device", "")).startswith("cuda"):
                fail(f"{overlay}: nvidia.com/gpu requested but the server is not told --device cuda")
        elif "KIND_GPU" in kinds:
            fail(f"{overlay}: KIND_GPU instances without an nvidia.com/gpu limit")
        ok(f"{overlay}: --model-config {mc} is in the ConfigMap; instances {kinds} x {counts}, gpu limit {gpu_limit}")

    for a in autoscalers:
        target = a["spec"]["scaleTargetRef"]["name"]
        if target != dep["metadata"]["name"]:
            fail(f"{overlay}: {a['kind']} targets {target}, not {dep['metadata']['name']}")
        text = yaml.safe_dump(a)
        if a["kind"] == "ScaledObject":
            for metric in ("nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us"):
                if metric not in text:
                    fail(f"{overlay}: ScaledObject query lacks {metric}")
        else:
            names = [m.get("pods", {}).get("metric", {}).get("name") for m in a["spec"].get("metrics", [])]
            if any(m.get("type") == "Resource" for m in a["spec"].get("metrics", [])):
                fail(f"{overlay}: the HPA scales on a resource (CPU/memory) metric")
            if "clipserve_queue_to_compute_ratio" not in names:
                fail(f"{overlay}: HPA does not use clipserve_queue_to_compute_ratio")
        ok(f"{overlay}: {a['kind']} scales Deployment {target} on the queue-to-compute ratio")


def metric_names_served(source):
    text = ""
    for f in glob.glob(os.path.join(source, "src", "metrics", "*.cpp")):
        text += open(f).read()
    return set(re.findall(r"nv_inference_[a-z_]+", text))


def cmd_kustomize(source, server):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        msg = "kubectl not found: the kustomize render is not checked (bash scripts/install-deps.sh installs kubernetes-client)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            fail(msg + " [CI is set: failing]")
            return
        print("SKIP: " + msg)
        sys.exit(SKIP)
    overlays = sorted(glob.glob(os.path.join(source, "deploy", "k8s", "overlays", "*", "kustomization.yaml")))
    if len(overlays) < 3:
        fail(f"expected the cpu, gpu and cpu-keda overlays, found {overlays}")
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"kubectl: {version}")
    for k in overlays:
        d = os.path.dirname(k)
        name = os.path.relpath(d, source)
        r = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail(f"{name}: kubectl kustomize exited {r.returncode}: {r.stderr.strip()[-500:]}")
            continue
        docs = [x for x in yaml.safe_load_all(r.stdout) if x]
        ok(f"{name}: renders {len(docs)} objects: {', '.join(x['kind'] for x in docs)}")
        check_rendered(name, docs, server)
    served = metric_names_served(source)
    adapter = open(os.path.join(source, "deploy", "k8s", "autoscaling", "prometheus-adapter", "values.yaml")).read()
    for m in set(re.findall(r"nv_inference_[a-z_]+", adapter)):
        if m not in served:
            fail(f"prometheus-adapter rules use {m}, which clip-server does not export")
    yaml.safe_load(adapter)
    ok("prometheus-adapter rules parse and use only metrics clip-server exports")


def cmd_yaml(source, server):
    files = sorted(glob.glob(os.path.join(source, "deploy", "**", "*.yaml"), recursive=True))
    if not files:
        fail("no YAML under deploy/")
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
        except yaml.YAMLError as e:
            fail(f"{os.path.relpath(f, source)}: {e}")
            continue
        if not docs:
            fail(f"{os.path.relpath(f, source)}: empty")
    ok(f"{len(files)} YAML files under deploy/ parse")


def cmd_compose(source, server):
    c = yaml.safe_load(open(os.path.join(source, "deploy", "compose.yaml")))
    svcs = c["services"]
    for want in ("kserve", "rest", "runner"):
        if want not in svcs:
            fail(f"compose: no service {want}")
            return
    listen = {}
    for name in ("kserve", "rest"):
        s = svcs[name]
        args = split_args(s.get("command", []))
        env = s.get("environment", {})
        check_flags_and_env(f"compose {name}", list(args), list(env), server)
        api = args.get("--api") or env.get("CLIP_SERVER_API")
        if api != name:
            fail(f"compose {name}: --api {api}")
        port = {}
        for flag, var in (("--rest-port", "CLIP_SERVER_REST_PORT"), ("--http-port", "CLIP_SERVER_HTTP_PORT"),
                          ("--metrics-port", "CLIP_SERVER_METRICS_PORT")):
            port[flag] = int(args.get(flag) or env.get(var) or server.default_port[flag])
        listen[name] = port
        if s.get("healthcheck", {}).get("test") != ["CMD", "clip-healthcheck"]:
            fail(f"compose {name}: healthcheck is not the image's clip-healthcheck")
        # clip-healthcheck decides the route from CLIP_SERVER_API.
        if env.get("CLIP_SERVER_API") != api:
            fail(f"compose {name}: CLIP_SERVER_API ({env.get('CLIP_SERVER_API')}) must say the API for clip-healthcheck")
        published = {int(p.split(":")[-1]) for p in s.get("ports", [])}
        need = {port["--http-port"], port["--metrics-port"]} if name == "kserve" else {port["--rest-port"]}
        if not need <= published:
            fail(f"compose {name}: ports {sorted(need)} not all published ({sorted(published)})")
    r = svcs["runner"]
    words = [str(x) for x in r.get("entrypoint", []) + r.get("command", [])]
    urls = [w for w in words if w.startswith("http://")]
    args = split_args(r.get("command", []))
    expect = {
        "--triton-url": f"http://kserve:{listen['kserve']['--http-port']}",
        "--triton-metrics-url": f"http://kserve:{listen['kserve']['--metrics-port']}/metrics",
        "--pytorch-url": f"http://rest:{listen['rest']['--rest-port']}",
    }
    for flag, want in expect.items():
        if args.get(flag) != want:
            fail(f"compose runner: {flag} {args.get(flag)}, the service listens at {want}")
    for u in urls:
        m = re.match(r"http://(\w+):(\d+)(/.*)?$", u)
        if not m:
            fail(f"compose runner: bad URL {u}")
            continue
        host, path = m.group(1), m.group(3) or "/"
        routes = server.kserve | server.metrics if host == "kserve" else server.rest
        if path != "/" and path not in routes:
            fail(f"compose runner: {u}: {path} is no route of the {host} service")
    if not any(w.endswith("/results/compose_checklist.json") or w.startswith("/results/") for w in words):
        fail("compose runner: does not write into /results")
    if "results" not in (c.get("volumes") or {}):
        fail("compose: no results volume")
    ok(f"compose: services {sorted(svcs)}, runner URLs {urls} match the servers' ports and routes")


def cmd_containerfile(source, server):
    text = open(os.path.join(source, "deploy", "Containerfile")).read()
    for label in ("org.opencontainers.image.version", "org.opencontainers.image.revision"):
        if label not in text:
            fail(f"Containerfile: no label {label}")
    build = open(os.path.join(source, "scripts", "build-image.sh")).read()
    for arg in ("VERSION=", "GIT_SHA="):
        if f'--build-arg "{arg}' not in build:
            fail(f"build-image.sh does not pass --build-arg {arg}")
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    if not user or user[-1].split(":")[0] in ("root", "0"):
        fail(f"Containerfile: the runtime user is {user[-1] if user else 'root'}")
    if not re.search(r'^ENTRYPOINT \["clip-server"\]', text, re.M):
        fail("Containerfile: the entrypoint is not clip-server")
    if not re.search(r"^HEALTHCHECK .*clip-healthcheck", text, re.M):
        fail("Containerfile: no HEALTHCHECK running clip-healthcheck")
    expose = {int(p) for line in re.findall(r"^EXPOSE (.*)$", text, re.M) for p in line.split()}
    defaults = set(server.default_port.values())
    if expose != defaults:
        fail(f"Containerfile: EXPOSE {sorted(expose)}, clip-server's default ports are {sorted(defaults)}")
    if "CLIP_SERVER_HOST=0.0.0.0" not in text or "CLIP_SERVER_HOST" not in server.envs:
        fail("Containerfile: CLIP_SERVER_HOST=0.0.0.0 not set (or no longer read by clip-server)")
    # The build stage's packages are the build subset of install-deps.sh.
    stage = text.split("FROM ${BASE} AS runtime")[0]
    m = re.search(r"apt-get install -y -qq --no-install-recommends(.*?)&&", stage, re.S)
    pkgs = set(m.group(1).replace("\\", " ").split()) if m else set()
    deps = open(os.path.join(source, "scripts", "install-deps.sh")).read()
    listed = set(re.search(r"PKGS=\((.*?)\n\)", deps, re.S).group(1).split())
    if not pkgs:
        fail("Containerfile: no apt-get install in the build stage")
    elif not pkgs <= listed:
        fail(f"Containerfile build packages not in scripts/install-deps.sh: {sorted(pkgs - listed)}")
    # The health scripts ask real routes on the ports the variables name.
    hc = open(os.path.join(source, "deploy", "image", "healthcheck.sh")).read()
    for var, default, path, routes in (("CLIP_SERVER_HTTP_PORT", "--http-port", "/v2/health/live", server.kserve),
                                       ("CLIP_SERVER_REST_PORT", "--rest-port", "/healthz", server.rest)):
        m = re.search(r"\$\{" + var + r":-(\d+)\}\" path=(\S+) ", hc)
        if not m:
            fail(f"healthcheck.sh: no {var} probe")
            continue
        if int(m.group(1)) != server.default_port[default]:
            fail(f"healthcheck.sh: {var} default {m.group(1)}, clip-server's {default} is {server.default_port[default]}")
        if m.group(2) != path or path not in routes:
            fail(f"healthcheck.sh: asks {m.group(2)} for {var}, expected the route {path}")
        if var not in server.envs:
            fail(f"healthcheck.sh: clip-server does not read {var}")
    ok(f"Containerfile: labels, user {user[-1] if user else '?'}, HEALTHCHECK, EXPOSE {sorted(expose)}, "
       f"{len(pkgs)} build packages all in install-deps.sh; healthcheck routes exist")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--clip-server", required=True)
    ap.add_argument("check", choices=["kustomize", "yaml", "compose", "containerfile"])
    a = ap.parse_args()
    server = Server(a.source, a.clip_server)
    globals()["cmd_" + a.check](a.source, server)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("all ok")


if __name__ == "__main__":
    main()
