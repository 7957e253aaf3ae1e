"""The Prometheus rules and the Grafana dashboard: promtool checks them, the rule tests fire (and
stay quiet) on series fixtures, and every dashboard query is valid PromQL.

promtool comes with Debian's `prometheus` package (.ci/run installs it)."""

import json
import subprocess
from pathlib import Path

import yaml
from monitoring_names import (
    DASHBOARD,
    REPO,
    RULES,
    dashboard_expressions,
    metric_names,
    rule_expressions,
    with_grafana_variables,
)
from system_tools import find_tool, needs

PROMTOOL_HINT = "Debian's prometheus package ships it: apt-get install prometheus"
PROMTOOL = find_tool("promtool", PROMTOOL_HINT)
needs_promtool = needs(PROMTOOL, "promtool", PROMTOOL_HINT)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@needs_promtool
def test_promtool_checks_the_rules():
    done = promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_rule_tests_pass():
    done = promtool("test", "rules", "alerts.test.yml", cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_every_alert_has_a_rule_test():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((RULES.parent / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts == tested, f"alerts with no firing test: {alerts - tested}"


@needs_promtool
def test_the_prometheus_config_loads_the_rules_as_docker_compose_mounts_them(tmp_path):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for volume in compose["services"]["prometheus"]["volumes"]:
        source, target = volume.split(":")[:2]
        (tmp_path / Path(target).name).write_bytes((REPO / source).read_bytes())
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr and "rules found" in done.stdout + done.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path):
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": with_grafana_variables(expr)}
                    for i, expr in enumerate(dashboard_expressions())
                    if not expr.startswith("label_values(")
                ],
            }
        ]
    }
    (tmp_path / "dashboard-queries.yml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", "dashboard-queries.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_covers_what_on_call_needs_and_is_provisioned():
    names = metric_names(dashboard_expressions())
    for needed in (
        "sc_labels_assigned_total",
        "sc_records_consumed_total",
        "sc_records_produced_total",
        "sc_consumer_lag",
        "sc_end_to_end_latency_seconds_bucket",
        "sc_dead_letters_total",
        "sc_dead_letter_window_ratio",
        "sc_label_reloads_total",
        "sc_commits_total",
        "sc_transactions_total",
    ):
        assert needed in names, needed
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    provider = yaml.safe_load((REPO / "configs" / "grafana" / "dashboards.yml").read_text())
    assert mounts["./configs/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    datasource = yaml.safe_load((REPO / "configs" / "grafana" / "datasource.yml").read_text())["datasources"][0]
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]} == {datasource["uid"]}


def test_rules_name_only_our_metrics_and_recordings():
    assert metric_names(rule_expressions()) >= {"sc_consumer_lag", "sc_labels_assigned_total"}
