#!/usr/bin/env python3
"""check-compose.py - offline consistency check of docker/compose.yaml (no Docker engine needed).

Checks that the compose file agrees with the rest of the repository:
  - it parses (PyYAML, anchors and merge keys resolved) and has the expected services;
  - the role services run the image built from docker/Dockerfile, which exists and installs
    its packages with scripts/setup-deps.sh in modes that script knows;
  - every role's command is a phonereport subcommand, and every PHONEREPORT_* variable it
    sets is a configuration entry of that role or of the common section (read from the
    config tables in the C sources: flag --x-y is PHONEREPORT_X_Y), or a kafka.* pass-through;
  - decoders share one consumer group and have distinct transactional ids;
  - the published ports are the ports the roles listen on, and Prometheus scrapes exactly
    those services and ports (docker/prometheus.yml);
  - sinks on a PostgreSQL store (PHONEREPORT_SINK_STORE postgresql://) share one consumer
    group, depend on the postgres service (healthy), and name it in their connection string;
  - Kafka runs in KRaft mode (broker+controller, cluster id, quorum voters on the controller
    listener), advertises the address the roles use as PHONEREPORT_BROKERS, and the topics
    service creates every topic of the contract (proto/contract.c) under the same prefix;
  - every volume, secret and depends_on target is defined and every file it names exists.
Prints one line per problem; exit status 1 if there is any.

    python3 docker/check-compose.py [docker/compose.yaml]
"""
import os
import re
import sys

import yaml

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "compose.yaml")
cdir = os.path.dirname(os.path.abspath(path))
problems = []


def problem(msg):
    problems.append(msg)


def interp(s):
    """Compose variable interpolation with defaults (${X:-d}), without an environment."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}", lambda m: m.group(2) or "",
                  str(s))


def read(rel):
    with open(os.path.join(top, rel), encoding="utf-8") as f:
        return f.read()


def config_names(*files):
    names = set()
    for rel in files:
        names |= set(re.findall(r'(?:\{|PR_CFG_(?:OPT|NUM)\()\s*"([a-z][a-z0-9.-]*)",\s*PR_CFG_', read(rel)))
    return names


def env_of(name):
    return "PHONEREPORT_" + name.upper().replace("-", "_").replace(".", "_")


with open(path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
services = doc.get("services") or {}

common = config_names("proto/config.c")
# run.c's process section (metrics-listen) applies to every role.
process = config_names("cmd/run.c") - {"embedded-partitions", "public-url"}
common |= process
role_names = {
    "ingest": config_names("ingest/config.c"),
    "decode": config_names("decoder/config.c"),
    "sink": config_names("sink/config.c"),
}
role_names["run"] = set().union(*role_names.values())
if not common or not all(role_names.values()):
    problem("could not read the config tables from the C sources")

expected = {"kafka", "topics", "ingest", "decoder-1", "decoder-2", "sink", "prometheus"}
for s in sorted(expected - set(services)):
    problem(f"service {s} is missing")

# Image and build.
dockerfile = None
for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        problem(f"{name}: neither image nor build")
    b = svc.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(cdir, b.get("context", ".")))
        df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
        if not os.path.isfile(df):
            problem(f"{name}: build dockerfile {df} does not exist")
        elif dockerfile and os.path.abspath(df) != dockerfile:
            problem(f"{name}: builds from another Dockerfile than the other roles")
        dockerfile = os.path.abspath(df)
        if os.path.normpath(ctx) != top:
            problem(f"{name}: build context {ctx} is not the repository root")
if dockerfile:
    text = open(dockerfile, encoding="utf-8").read()
    setup = read("scripts/setup-deps.sh")
    known_modes = set(re.findall(r"^\s*([a-z]+)\)", setup, re.M))
    modes = re.findall(r"setup-deps\.sh\s+([a-z ]+?)\s*(?:&&|$)", text, re.M)
    if not modes:
        problem("Dockerfile does not run scripts/setup-deps.sh")
    for m in modes:
        for mode in m.split():
            if mode not in known_modes:
                problem(f"Dockerfile runs setup-deps.sh {mode}, a mode the script does not know")
    if "COPY scripts/setup-deps.sh" not in text:
        problem("Dockerfile does not copy scripts/setup-deps.sh")
    if "CMAKE_BUILD_TYPE=Release" not in text:
        problem("Dockerfile does not build with CMake Release")
    if not re.search(r"^FROM debian:bookworm", text, re.M):
        problem("Dockerfile is not based on debian:bookworm")
    if len(re.findall(r"^FROM ", text, re.M)) < 2:
        problem("Dockerfile is not multi-stage")

# Roles.
roles = {n: s for n, s in services.items() if s.get("build") or
         str(s.get("image", "")).startswith("phonereport")}
brokers = set()
decoders = {}
listen_ports = {}
metrics_ports = {}
for name, svc in roles.items():
    cmd = svc.get("command") or []
    cmd = cmd.split() if isinstance(cmd, str) else cmd
    sub = cmd[0] if cmd else None
    if sub not in role_names:
        problem(f"{name}: command {cmd} is not a phonereport role")
        continue
    env = {k: interp(v) for k, v in (svc.get("environment") or {}).items()}
    allowed = {env_of(n) for n in common | role_names[sub]} | {"PHONEREPORT_CONFIG"}
    for k in env:
        if k.startswith("PHONEREPORT_KAFKA_"):
            continue
        # libpq's own variables, for a sink on a PostgreSQL store (PGPASSWORD, PGSSLMODE, ...)
        if sub in ("sink", "run") and re.match(r"^PG[A-Z]+$", k):
            continue
        if k not in allowed:
            problem(f"{name}: {k} is not a setting of `phonereport {sub}` or the common ones")
    if "PHONEREPORT_BROKERS" not in env:
        problem(f"{name}: no PHONEREPORT_BROKERS")
    brokers.add(env.get("PHONEREPORT_BROKERS"))
    if sub == "decode":
        decoders[name] = env
    if "PHONEREPORT_METRICS_LISTEN" in env:
        metrics_ports[name] = env["PHONEREPORT_METRICS_LISTEN"].rsplit(":", 1)[-1]
    for key in ("PHONEREPORT_LISTEN", "PHONEREPORT_API_LISTEN"):
        if key in env:
            port = env[key].rsplit(":", 1)[-1]
            listen_ports[name] = port
            targets = [str(p).split(":")[-1].split("/")[0] for p in svc.get("ports", [])]
            if port not in targets:
                problem(f"{name}: listens on {port} but publishes {targets}")
if len(decoders) < 2:
    problem("fewer than two decoders")
groups = {e.get("PHONEREPORT_DECODER_GROUP", "phonereport-decoder") for e in decoders.values()}
if len(groups) != 1:
    problem(f"decoders are in different consumer groups: {groups}")
tids = [e.get("PHONEREPORT_DECODER_TRANSACTIONAL_ID") for e in decoders.values()]
if None in tids or len(set(tids)) != len(tids):
    problem(f"decoders need distinct, explicit transactional ids: {tids}")
if len(brokers) != 1:
    problem(f"roles use different brokers: {brokers}")
pg_sinks = {n: s for n, s in roles.items()
            if str((s.get("environment") or {}).get("PHONEREPORT_SINK_STORE", "")).startswith(
                ("postgresql://", "postgres://"))}
if pg_sinks:
    if "postgres" not in services:
        problem("sinks use a PostgreSQL store but there is no postgres service")
    sgroups = {interp((s.get("environment") or {}).get("PHONEREPORT_SINK_GROUP",
                                                       "phonereport-sink")) for s in pg_sinks.values()}
    if len(sgroups) != 1:
        problem(f"sinks sharing a PostgreSQL store are in different consumer groups: {sgroups}")
    for n, s in pg_sinks.items():
        url = interp(s["environment"]["PHONEREPORT_SINK_STORE"])
        if "@postgres:" not in url and "//postgres:" not in url:
            problem(f"{n}: store {url} is not the postgres service")
        dep = s.get("depends_on") or {}
        if not isinstance(dep, dict) or (dep.get("postgres") or {}).get("condition") != \
                "service_healthy":
            problem(f"{n}: does not wait for a healthy postgres service")

# Kafka.
kafka = services.get("kafka", {})
kenv = {k: interp(v) for k, v in (kafka.get("environment") or {}).items()}
if not str(kafka.get("image", "")).startswith("apache/kafka:"):
    problem("kafka: not the official apache/kafka image")
else:
    ver = interp(kafka["image"]).split(":", 1)[1]
    if not re.match(r"^[4-9]\.", ver):
        problem(f"kafka: version {ver} is not 4.x or later")
if set(kenv.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
    problem("kafka: not a combined KRaft broker+controller")
if not kenv.get("CLUSTER_ID"):
    problem("kafka: no CLUSTER_ID")
listeners = dict(reversed(l.split("://", 1)) for l in kenv.get("KAFKA_LISTENERS", "").split(",") if l)
listeners = {v: k for k, v in listeners.items()}  # name -> host:port
ctrl = kenv.get("KAFKA_CONTROLLER_LISTENER_NAMES")
voters = kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
m = re.match(r"^(\d+)@([^:]+):(\d+)$", voters)
if not m or m.group(1) != str(kenv.get("KAFKA_NODE_ID")) or ctrl not in listeners or \
        listeners[ctrl].rsplit(":", 1)[-1] != m.group(3):
    problem(f"kafka: quorum voters {voters!r} do not match the node id and controller listener")
adv = dict(reversed(a.split("://", 1)) for a in kenv.get("KAFKA_ADVERTISED_LISTENERS", "").split(",") if a)
adv = {v: k for k, v in adv.items()}
inter = kenv.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
if brokers and adv.get(inter) not in brokers:
    problem(f"kafka: advertises {adv.get(inter)} on {inter}, the roles use {brokers}")
host = (brokers and next(iter(brokers)) or ":").split(":")[0]
if host not in (kafka.get("hostname"), "kafka"):
    problem(f"kafka: the roles' broker host {host} is not the kafka service")
for k in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
          "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
    if str(kenv.get(k)) != "1":
        problem(f"kafka: {k} must be 1 on a single node (transactions need it)")

# Topics: every contract topic, same prefix as the roles.
suffixes = re.findall(r'\[PR_TOPIC_[A-Z]+\]\s*=\s*"([a-z]+)"', read("proto/contract.c"))
topics = services.get("topics", {})
tcmd = "\n".join(topics.get("command") or [])
tenv = {k: interp(v) for k, v in (topics.get("environment") or {}).items()}
created = set(re.findall(r"^\s*t\s+([a-z]+)", tcmd, re.M))
for s in suffixes:
    if s not in created:
        problem(f"topics: does not create the {s} topic")
if "state" in created and not re.search(r"^\s*t\s+state\b.*cleanup\.policy=compact", tcmd, re.M):
    problem("topics: the state topic is not compacted")
prefixes = {interp(s.get("environment", {}).get("PHONEREPORT_TOPIC_PREFIX", "phonereport."))
            for s in roles.values()}
if prefixes != {tenv.get("PREFIX")}:
    problem(f"topics: prefix {tenv.get('PREFIX')} differs from the roles' {prefixes}")

# Prometheus scrapes the ingest and sink on their ports, the decoders on --metrics-listen.
prom = services.get("prometheus", {})
pfile = None
for v in prom.get("volumes", []):
    src, dst = str(v).split(":")[:2]
    if dst == "/etc/prometheus/prometheus.yml":
        pfile = os.path.join(cdir, src)
if not pfile or not os.path.isfile(pfile):
    problem("prometheus: prometheus.yml is not mounted or does not exist")
else:
    pcfg = yaml.safe_load(open(pfile, encoding="utf-8"))
    targets = {t for job in pcfg.get("scrape_configs", []) for sc in job.get("static_configs", [])
               for t in sc.get("targets", [])}
    wanted = [f"{svc}:{port}" for svc, port in listen_ports.items()]
    wanted += [f"{svc}:{port}" for svc, port in metrics_ports.items()]
    for want in wanted:
        if want not in targets:
            problem(f"prometheus: does not scrape {want} (targets {sorted(targets)})")
    for d in decoders:
        if d not in metrics_ports:
            problem(f"{d}: no PHONEREPORT_METRICS_LISTEN, so its metrics cannot be scraped")
    for t in targets:
        h = t.split(":")[0]
        if h not in services and h != "localhost":
            problem(f"prometheus: target {t} is not a service")

# References.
vols = set((doc.get("volumes") or {}).keys())
secrets = doc.get("secrets") or {}
for name, svc in services.items():
    for v in svc.get("volumes", []):
        src = interp(str(v)).split(":")[0]
        if src.startswith(".") or src.startswith("/"):
            if not os.path.exists(os.path.join(cdir, src)):
                problem(f"{name}: bind source {src} does not exist")
        elif src not in vols:
            problem(f"{name}: volume {src} is not defined")
    for s in svc.get("secrets", []):
        s = s if isinstance(s, str) else s.get("source")
        if s not in secrets:
            problem(f"{name}: secret {s} is not defined")
    dep = svc.get("depends_on") or []
    for d in (dep if isinstance(dep, list) else dep.keys()):
        if d not in services:
            problem(f"{name}: depends on unknown service {d}")
for s, spec in secrets.items():
    f = interp(spec.get("file", ""))
    if not os.path.isfile(os.path.join(cdir, f)):
        problem(f"secret {s}: file {f} does not exist")

for p in problems:
    print("check-compose: " + p)
print(f"check-compose: {len(services)} services, {len(roles)} phonereport roles, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
