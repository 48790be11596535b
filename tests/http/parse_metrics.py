#!/usr/bin/python3
"""Checks the text of minisupd's /metrics with a real Prometheus parser.

Usage: parse_metrics.py FILE   (FILE: the body of GET /metrics; - for stdin)

Parses FILE with prometheus_client.parser.text_string_to_metric_families
(Debian's python3-prometheus-client; run it with /usr/bin/python3) and
checks the contract of DESIGN.md ("HTTP: dashboard, JSON API, metrics") and
supervisor/daemon/metrics.h on top of what that (lax) parser checks:
  - every line is a `# HELP`, a `# TYPE` or a sample; the text ends with a
    newline; each family is declared once, HELP then TYPE, with its samples
    right after them (a stray sample would come out as an untyped family);
  - every family of the contract is present, with its type;
  - within a family no two samples have the same name and label set;
  - per-process samples carry `process` and `group`; minisup_process_state
    has one sample per state name for each process, exactly one of them 1;
    minisup_process_exits_total's `reason` is a known exit reason;
    minisup_build_info has a `version` and the value 1; counters are >= 0;
    every value is finite.
Prints `ok: ...` and exits 0 when all holds; otherwise prints each broken
rule (`FAIL: ...`) and exits 1. Exits 2 when FILE cannot be read or
prometheus_client cannot be imported.
"""
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as error:  # pragma: no cover
    print(f"parse_metrics.py: cannot import prometheus_client ({error}); "
          "run it with Debian's /usr/bin/python3 and python3-prometheus-client",
          file=sys.stderr)
    sys.exit(2)

# The families of the contract: name as written in the text -> type.
CONTRACT = {
    "minisup_process_state": "gauge",
    "minisup_process_restarts_total": "counter",
    "minisup_process_exits_total": "counter",
    "minisup_process_sigkill_total": "counter",
    "minisup_process_last_exit_code": "gauge",
    "minisup_process_stop_duration_seconds": "gauge",
    "minisup_process_start_time_seconds": "gauge",
    "minisup_process_ready": "gauge",
    "minisup_resident_memory_bytes": "gauge",
    "minisup_open_fds": "gauge",
    "minisup_build_info": "gauge",
}
PER_PROCESS = {name for name in CONTRACT if name.startswith("minisup_process_")}
STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"}
REASONS = {"exited", "killed", "needed_sigkill", "spawn_failed", "unhealthy", "not_ready",
           "dependency_failed"}

COMMENT = re.compile(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$")
# name{label="value",...} value: label values may hold \\, \" and \n only as escapes.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*)?\})?'
                    r' (\S+)$')


def check_lines(text, failures):
    """The line-level rules: shapes, HELP/TYPE order, samples after their TYPE."""
    if not text.endswith("\n"):
        failures.append("the text does not end with a newline")
    declared = {}  # family -> ["HELP", "TYPE"] as seen
    current = None
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            match = COMMENT.match(line)
            if not match:
                failures.append(f"line {number}: not a HELP or TYPE comment: {line!r}")
                continue
            kind, name = match.group(1), match.group(2)
            seen = declared.setdefault(name, [])
            if kind in seen:
                failures.append(f"line {number}: a second # {kind} for {name}")
            if kind == "TYPE" and seen != ["HELP"]:
                failures.append(f"line {number}: # TYPE {name} without # HELP right before it")
            seen.append(kind)
            current = name
            continue
        match = SAMPLE.match(line)
        if not match:
            failures.append(f"line {number}: not a sample line: {line!r}")
            continue
        if match.group(1) != current or declared.get(current) != ["HELP", "TYPE"]:
            failures.append(f"line {number}: sample of {match.group(1)} outside its family "
                            f"(after {current})")


def check_families(families, failures):
    """The rules on the parsed families; returns the number of samples."""
    seen = {}
    count = 0
    states = {}  # (process, group, old) -> {state: value}
    for family in families:
        # The parser names a counter family without its _total; the samples keep it.
        name = family.name + "_total" if family.type == "counter" else family.name
        if name in seen:
            failures.append(f"{name}: declared twice")
        seen[name] = family.type
        if name in CONTRACT and family.type != CONTRACT[name]:
            failures.append(f"{name}: type {family.type}, expected {CONTRACT[name]}")
        if not family.documentation:
            failures.append(f"{name}: no HELP text")
        label_sets = set()
        for sample in family.samples:
            count += 1
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in label_sets:
                failures.append(f"{name}: duplicate sample {sample.name}{sample.labels}")
            label_sets.add(key)
            if not math.isfinite(sample.value):
                failures.append(f"{name}: value {sample.value} is not finite")
            if family.type == "counter" and sample.value < 0:
                failures.append(f"{name}: counter below 0: {sample.value}")
            if name in PER_PROCESS:
                if "process" not in sample.labels or "group" not in sample.labels:
                    failures.append(f"{name}: sample without process/group: {sample.labels}")
                    continue
                if sample.labels.get("old", "true") != "true":
                    failures.append(f"{name}: old is \"true\" or absent: {sample.labels}")
            if name == "minisup_process_state":
                process = (sample.labels["process"], sample.labels["group"],
                           sample.labels.get("old", ""))
                state = sample.labels.get("state")
                if state not in STATES:
                    failures.append(f"{name}: unknown state {state!r}")
                if sample.value not in (0, 1):
                    failures.append(f"{name}: value {sample.value}, expected 0 or 1")
                states.setdefault(process, {})[state] = sample.value
            if name == "minisup_process_exits_total" and sample.labels.get("reason") not in REASONS:
                failures.append(f"{name}: unknown reason {sample.labels.get('reason')!r}")
            if name == "minisup_process_ready" and sample.value not in (0, 1):
                failures.append(f"{name}: value {sample.value}, expected 0 or 1")
            if name == "minisup_build_info":
                if "version" not in sample.labels or sample.value != 1:
                    failures.append(f"{name}: expected {{version=...}} 1, got "
                                    f"{sample.labels} {sample.value}")
    for name, typ in CONTRACT.items():
        if name not in seen:
            failures.append(f"{name}: missing (a {typ} of the contract)")
    for process, by_state in states.items():
        if set(by_state) != STATES:
            failures.append(f"minisup_process_state{process}: states {sorted(by_state)}")
        if sum(by_state.values()) != 1:
            failures.append(f"minisup_process_state{process}: {sum(by_state.values())} "
                            "states at 1, expected one")
    if not states:
        failures.append("minisup_process_state: no process")
    return count, len(states)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    try:
        if argv[1] == "-":
            text = sys.stdin.read()
        else:
            with open(argv[1], encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        print(f"parse_metrics.py: {argv[1]}: {error}", file=sys.stderr)
        return 2
    failures = []
    check_lines(text, failures)
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and others
        failures.append(f"prometheus_client cannot parse it: {type(error).__name__}: {error}")
        families = []
    samples, processes = check_families(families, failures) if families else (0, 0)
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    print(f"ok: {len(families)} families, {samples} samples, {processes} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
