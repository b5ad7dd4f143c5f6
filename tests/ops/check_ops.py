#!/usr/bin/env python3
"""check_ops.py - the operations kit in docker/ is consistent and valid:

- promtool check rules docker/alerts.yml, and its unit tests (promtool test rules
  docker/alerts.test.yml: each alert fires on the series it is meant for, and not before);
- promtool check config docker/prometheus.yml (its rule_files pointed at the repository copy);
- every phonereport_* metric the alerts and the Grafana dashboard use is one the code
  registers (pr_metrics_counter/counter_by/gauge/histogram in the roles' sources);
- the dashboard is JSON whose panels use the provisioned Prometheus data source.

usage: check_ops.py <repository root> <promtool>
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

top, promtool = os.path.abspath(sys.argv[1]), sys.argv[2]
docker = os.path.join(top, "docker")
problems = []


def run(*cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        problems.append(f"{' '.join(cmd)}:\n{p.stdout}{p.stderr}")


run(promtool, "check", "rules", "alerts.yml", cwd=docker)
run(promtool, "test", "rules", "alerts.test.yml", cwd=docker)

with open(os.path.join(docker, "prometheus.yml")) as f:
    prom = yaml.safe_load(f)
if prom.get("rule_files") != ["/etc/prometheus/alerts.yml"]:
    problems.append(f"prometheus.yml: rule_files {prom.get('rule_files')} is not the mounted alerts.yml")
with open(os.path.join(docker, "compose.yaml")) as f:
    compose = yaml.safe_load(f)
mounts = compose["services"]["prometheus"].get("volumes", [])
if "./alerts.yml:/etc/prometheus/alerts.yml:ro" not in mounts:
    problems.append("compose.yaml: prometheus does not mount alerts.yml where prometheus.yml reads it")
with tempfile.TemporaryDirectory() as tmp:
    prom["rule_files"] = [os.path.join(docker, "alerts.yml")]
    path = os.path.join(tmp, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(prom, f)
    run(promtool, "check", "config", path)

# Metric names the code registers.
registered = set()
for src in glob.glob(os.path.join(top, "*", "*.c")):
    text = open(src, encoding="utf-8").read()
    for m in re.finditer(r'pr_metrics_(?:counter|counter_by|gauge|histogram)\(\s*[^,]+,\s*"([a-z_]+)"', text):
        registered.add(m.group(1))
if len(registered) < 20:
    problems.append(f"found only {len(registered)} registered metrics: the pattern is stale")


def used(text, where):
    for name in set(re.findall(r"\bphonereport_[a-z_]+", text)):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in registered and base not in registered:
            problems.append(f"{where}: {name} is not a metric any role registers")


used(open(os.path.join(docker, "alerts.yml")).read(), "alerts.yml")
dash_path = os.path.join(docker, "grafana", "dashboards", "phonereport.json")
dash = json.load(open(dash_path))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
used("\n".join(exprs), "phonereport.json")
ds = yaml.safe_load(open(os.path.join(docker, "grafana", "provisioning", "datasources",
                                      "prometheus.yml")))
uids = {d["uid"] for d in ds["datasources"]}
for p in dash["panels"]:
    if p["type"] != "row" and p.get("datasource", {}).get("uid") not in uids:
        problems.append(f"dashboard panel {p['title']!r}: data source is not the provisioned one")
for want in ("phonereport_ingest_requests_total", "phonereport_ingest_ack_latency_seconds_bucket",
             "phonereport_ingest_unavailable_total", "phonereport_decoder_dlq_total",
             "phonereport_sink_lag", "phonereport_sink_applied_reports_total",
             "phonereport_sink_drifted_params"):
    if not any(want in e for e in exprs):
        problems.append(f"dashboard: no panel shows {want}")

for p in problems:
    print("check-ops:", p)
print(f"check-ops: {len(exprs)} dashboard queries, {len(registered)} registered metrics, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
