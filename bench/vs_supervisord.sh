#!/usr/bin/env bash
# minisup and supervisord side by side: the same workloads, in one run, under
# Debian's supervisord (the `supervisor` package, installed when missing,
# without starting its service) and under minisupd, then one Markdown table
# (workload | supervisord | minisup | ratio supervisord / minisup).
#
#   spawn 100 / 1,000   supervisor start -> every program RUNNING (startsecs 0)
#   status 1,000        wall time of a whole `supervisorctl status` and
#                       `minisupctl status` process
#   RSS 1,000           VmRSS of supervisord (python) and of minisupd, idle
#   wakeups 1,000       voluntary + nonvoluntary context switches of the
#                       supervisor over IDLE_SECS (10) idle seconds
#   shutdown 1,000      SIGTERM to the supervisor -> it has exited
#   SIGKILL escalation  a program ignoring SIGTERM, stopwaitsecs = 1: how
#                       long after the deadline it died
#   restart after kill  kill -9 of a RUNNING program -> a new pid RUNNING
#                       (startsecs 0, autorestart)
#   log throughput      a program writing LOG_MB MB to stdout as fast as it
#                       can, into a log file of the supervisor's: MB/s
# The method of each row: bench/README.md, "minisup vs supervisord".
#
# Each supervisor gets its own temporary directory and an INI config
# generated here; minisup's TOML is that INI converted by
# `minisupctl convert`, so both run the same programs. Programs are
# `/bin/sleep` with startsecs = 0 and NONE logs unless said.
#
# Usage: bench/vs_supervisord.sh [--quick]   (--quick: fewer repetitions,
#        a smaller log: about 2 min; the full run about 5: supervisord
#        takes ~35 s per spawn of 1,000)
# Environment: BUILD_DIR (default build), IDLE_SECS (default 10), KEEP=1
# keeps the temporary directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
elif [ $# -gt 0 ]; then
  echo "usage: bench/vs_supervisord.sh [--quick]" >&2
  exit 2
fi
if [ "$quick" = 1 ]; then
  spawn_reps=1 status_runs=5 kill_reps=3 log_mb=50 log_reps=1
else
  spawn_reps=3 status_runs=15 kill_reps=7 log_mb=200 log_reps=2
fi
idle_secs="${IDLE_SECS:-10}"
py=/usr/bin/python3 # Debian's python: the one with supervisor's modules

if ! command -v supervisord >/dev/null || ! command -v supervisorctl >/dev/null; then
  echo "installing supervisor (Debian package; its service is not started)" >&2
  policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends supervisor >/dev/null
  [ -z "$made_policy" ] || rm -f "$policy"
fi
if [ ! -x "$build/minisupd" ] || [ ! -x "$build/minisupctl" ]; then
  TARGETS="minisupd minisupctl" BUILD_DIR="$build" bash "$root/scripts/build.sh"
fi
# supervisord needs minfds descriptors (it refuses to start below), and
# both hold a few per program: give each the hard limit.
ulimit -n "$(ulimit -Hn)"
minfds=$(ulimit -n)
[ "$minfds" = unlimited ] || [ "$minfds" -gt 16384 ] && minfds=16384

out="$(mktemp -d /tmp/minisup-bench-vs-XXXXXX)"
sv_pid="" mi_pid=""
cleanup() {
  local pid
  for pid in $sv_pid $mi_pid; do
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $out" >&2; else rm -rf "$out"; fi
}
trap cleanup EXIT

# ---- helpers -----------------------------------------------------------

# The measuring helper: talks to each supervisor over its own socket
# (supervisord: XML-RPC, what supervisorctl uses; minisupd: its JSON-lines
# protocol, minisup-protocol(7)), and watches processes through pidfds.
cat >"$out/helper.py" <<'EOF'
import json, os, select, signal, socket, subprocess, sys, time
import xmlrpc.client

def rpc(kind, sock):
    """A function name -> (state, pid) of every process (or of one)."""
    if kind == "sv":
        from supervisor.xmlrpc import SupervisorTransport
        def status(name=None):
            proxy = xmlrpc.client.ServerProxy(  # a new one each time: one failed
                "http://127.0.0.1", transport=SupervisorTransport(None, None, "unix://" + sock))
            infos = [proxy.supervisor.getProcessInfo(name)] if name else \
                proxy.supervisor.getAllProcessInfo()
            return {i["name"]: (i["statename"], i["pid"]) for i in infos}
        return status
    def status(name=None):
        request = {"cmd": "status", "fields": ["name", "state", "pid"]}
        if name:
            request["names"] = [name]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sock)
            s.sendall((json.dumps(request) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
        return {p["name"]: (p["state"], p["pid"]) for p in json.loads(data)["processes"]}
    return status

def all_running(kind, sock, count, t0_ns, interval):
    """Polls until `count` processes are RUNNING; prints ms since t0_ns."""
    status = rpc(kind, sock)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            states = status()
            if sum(1 for s, _ in states.values() if s == "RUNNING") >= count:
                print(f"{(time.time_ns() - t0_ns) / 1e6:.1f}")
                return
        except Exception:  # not listening yet
            pass
        time.sleep(interval)
    sys.exit("timeout waiting for RUNNING")

def escalate(pid, term_file, stopwait, cmd):
    """Runs the stop command; prints ms between the stop signal's arrival
    (written to term_file by the program) plus stopwait, and the death."""
    fd = os.pidfd_open(pid)
    stop = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    select.select([fd], [], [], 30)
    died = time.monotonic()
    stop.wait()
    with open(term_file) as f:
        termed = float(f.read())
    print(f"{(died - termed - stopwait) * 1e3:.2f}")

def restart(kind, sock, name, interval):
    """kill -9 a RUNNING process; prints ms until another pid is RUNNING."""
    status = rpc(kind, sock)
    state, old = status(name)[name]
    assert state == "RUNNING" and old > 0, (state, old)
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    while time.monotonic() - t0 < 30:
        state, pid = status(name)[name]
        if state == "RUNNING" and pid not in (0, old):
            print(f"{(time.monotonic() - t0) * 1e3:.2f}")
            return
        time.sleep(interval)
    sys.exit("timeout waiting for the restart")

def log_rate(path, size, t0_file, interval):
    """Waits until path holds size bytes; prints MB/s since the time (ns)
    that the writer wrote into t0_file just before it exec'ed cat."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if os.stat(path).st_size >= size:
                done = time.time_ns()
                break
        except FileNotFoundError:
            pass
        time.sleep(interval)
    else:
        sys.exit("timeout waiting for the log")
    with open(t0_file) as f:
        t0 = int(f.read())
    print(f"{size / 1e6 / ((done - t0) / 1e9):.1f}")

what = sys.argv[1]
a = sys.argv[2:]
if what == "all_running":
    all_running(a[0], a[1], int(a[2]), int(a[3]), float(a[4]))
elif what == "escalate":
    escalate(int(a[0]), a[1], float(a[2]), a[3:])
elif what == "restart":
    restart(a[0], a[1], a[2], float(a[3]))
elif what == "log_rate":
    log_rate(a[0], int(a[1]), a[2], float(a[3]))
EOF
cat >"$out/stubborn.py" <<'EOF'
# Ignores SIGTERM; writes the monotonic time it arrived to argv[1].
import signal, sys, time
def on_term(_s, _f):
    with open(sys.argv[1], "w") as f:
        f.write(repr(time.monotonic()))
signal.signal(signal.SIGTERM, on_term)
while True:
    signal.pause()
EOF
helper() { "$py" "$out/helper.py" "$@"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
# median and max of the numbers in a file, one a line
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { sort -g "$1" | tail -1; }
proc_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
ctxsw() { echo $(($(proc_field "$1" voluntary_ctxt_switches) + $(proc_field "$1" nonvoluntary_ctxt_switches))); }

# INI of supervisord for DIR: the [unix_http_server] socket, the
# rpcinterface supervisorctl needs, and the programs written by the
# function named in $2 (with its arguments).
write_ini() {
  local dir=$1
  shift
  mkdir -p "$dir/logs"
  {
    cat <<EOF
[unix_http_server]
file=$dir/supervisor.sock

[supervisord]
logfile=$dir/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$dir/logs
minfds=$minfds
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$dir/supervisor.sock
EOF
    "$@" "$dir"
  } >"$dir/supervisord.conf"
}
# N programs p0 ... pN-1: /bin/sleep, startsecs 0, no logs.
sleepers() {
  local i
  for i in $(seq 0 $(($1 - 1))); do
    printf '\n[program:p%d]\ncommand=/bin/sleep 100000\nstartsecs=0\n' "$i"
    printf 'stdout_logfile=NONE\nstderr_logfile=NONE\n'
  done
}
# stubborn (ignores SIGTERM, stopwaitsecs 1), crashN (killed once each, so
# minisup's backoff for a program dying soon after its start never applies),
# writer (cat of the data file into writer.log, started by hand).
lifecycle() {
  local dir=$1 i
  printf '\n[program:stubborn]\ncommand=%s %s %s\n' "$py" "$out/stubborn.py" "$dir/term-time"
  printf 'startsecs=0\nstopwaitsecs=1\nautorestart=false\nstdout_logfile=NONE\nstderr_logfile=NONE\n'
  for i in $(seq 0 $((kill_reps - 1))); do
    printf '\n[program:crash%d]\ncommand=/bin/sleep 100000\nstartsecs=0\nautorestart=true\n' "$i"
    printf 'stdout_logfile=NONE\nstderr_logfile=NONE\n'
  done
  printf '\n[program:writer]\ncommand=/bin/sh -c "date +%%%%s%%%%N > %s; exec cat %s"\n' \
    "$dir/t0" "$out/data"
  printf 'autostart=false\nstartsecs=0\nautorestart=false\n'
  printf 'stdout_logfile=%s\nstdout_logfile_maxbytes=0\nstderr_logfile=NONE\n' "$dir/writer.log"
}

# Configs for KIND (sv or mi) in $out/KIND-NAME; sets conf.
configure() {
  local kind=$1 name=$2
  shift 2
  local dir="$out/$kind-$name"
  write_ini "$dir" "$@"
  conf="$dir/supervisord.conf"
  if [ "$kind" = mi ]; then
    "$build/minisupctl" convert "$conf" -o "$dir/minisup.toml" 2>"$dir/convert.log"
    conf="$dir/minisup.toml"
  fi
}
sock_of() { echo "$(dirname "$conf")/supervisor.sock"; }
ctl() { # KIND ARGS...: the CLI of KIND on $conf
  local kind=$1
  shift
  if [ "$kind" = sv ]; then supervisorctl -c "$conf" "$@"; else "$build/minisupctl" -c "$conf" "$@"; fi
}
# Starts the supervisor of KIND on $conf in the foreground of a background
# job (pid in sv_pid / mi_pid).
launch() {
  if [ "$1" = sv ]; then
    supervisord -n -c "$conf" >/dev/null 2>&1 &
    sv_pid=$!
  else
    "$build/minisupd" -c "$conf" >/dev/null 2>&1 &
    mi_pid=$!
  fi
}
pid_of() { if [ "$1" = sv ]; then echo "$sv_pid"; else echo "$mi_pid"; fi; }
# Waits until COUNT processes run: prints the ms since $t0 (us).
wait_running() {
  local kind=$1 count=$2
  if [ "$kind" = sv ]; then
    helper all_running sv "$(sock_of)" "$count" "${t0}000" 0.02
  else
    ctl mi wait all --timeout 300 >/dev/null
    echo "$(($(now_us) - t0))" | awk '{ printf "%.1f\n", $1 / 1000 }'
  fi
}
# SIGTERM to the supervisor; prints ms until it exited.
terminate() {
  local kind=$1 pid start
  pid=$(pid_of "$kind")
  start=$(now_us)
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$(($(now_us) - start))" | awk '{ printf "%.1f\n", $1 / 1000 }'
  if [ "$kind" = sv ]; then sv_pid=""; else mi_pid=""; fi
}

# ---- the workloads -----------------------------------------------------

# spawn N, REPS times; the last run of 1,000 also measures status, RSS,
# idle wakeups and the shutdown.
spawn() {
  local kind=$1 n=$2 rep pid start i
  for rep in $(seq 1 "$spawn_reps"); do
    configure "$kind" "spawn$n-$rep" sleepers "$n"
    t0=$(now_us)
    launch "$kind"
    wait_running "$kind" "$n" >>"$out/$kind.spawn$n"
    if [ "$n" = 1000 ] && [ "$rep" = "$spawn_reps" ]; then
      for i in $(seq 1 "$status_runs"); do
        start=$(now_us)
        ctl "$kind" status >/dev/null || true
        echo "$(($(now_us) - start))" | awk '{ printf "%.1f\n", $1 / 1000 }' >>"$out/$kind.status"
      done
      pid=$(pid_of "$kind")
      sleep 2 # settle
      proc_field "$pid" VmRSS >"$out/$kind.rss"
      local before after
      before=$(ctxsw "$pid")
      sleep "$idle_secs"
      after=$(ctxsw "$pid")
      echo $((after - before)) >"$out/$kind.wakeups"
      terminate "$kind" >"$out/$kind.shutdown"
    else
      terminate "$kind" >/dev/null
    fi
  done
}

lifecycle_run() {
  local kind=$1 i pid
  configure "$kind" lifecycle lifecycle
  t0=$(now_us)
  launch "$kind"
  wait_running "$kind" $((1 + kill_reps)) >/dev/null
  local dir
  dir=$(dirname "$conf")
  for i in $(seq 1 "$kill_reps"); do
    [ "$i" = 1 ] || ctl "$kind" start stubborn >/dev/null || true
    pid=$(ctl "$kind" pid stubborn)
    rm -f "$dir/term-time"
    if [ "$kind" = sv ]; then
      helper escalate "$pid" "$dir/term-time" 1 supervisorctl -c "$conf" stop stubborn
    else
      helper escalate "$pid" "$dir/term-time" 1 "$build/minisupctl" -c "$conf" stop stubborn
    fi >>"$out/$kind.escalation"
  done
  for i in $(seq 0 $((kill_reps - 1))); do
    helper restart "$kind" "$(sock_of)" "crash$i" 0.001 >>"$out/$kind.restart"
  done
  for i in $(seq 1 "$log_reps"); do
    rm -f "$dir/writer.log" "$dir/t0"
    helper log_rate "$dir/writer.log" $((log_mb * 1000000)) "$dir/t0" 0.002 >>"$out/$kind.log" &
    local watcher=$!
    ctl "$kind" start writer >/dev/null
    wait "$watcher"
    ctl "$kind" stop writer >/dev/null 2>&1 || true
  done
  terminate "$kind" >/dev/null
}

# ---- run ---------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/vs_supervisord.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $load_start" >&2
yes 'minisup vs supervisord: a log line of about eighty bytes, written as fast as cat can.' |
  head -c $((log_mb * 1000000)) >"$out/data" || true # yes ends by SIGPIPE
for kind in sv mi; do
  echo "$kind: spawn 100" >&2
  spawn "$kind" 100
  echo "$kind: spawn 1,000, status, RSS, idle, shutdown" >&2
  spawn "$kind" 1000
  echo "$kind: SIGKILL escalation, restart, log throughput" >&2
  lifecycle_run "$kind"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ---------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 <= 0 || b + 0 <= 0) print "-"; else printf "%.1f×\n", a / b }'; }
row() { # WORKLOAD SV MI RATIO
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"
}
ms_row() { # WORKLOAD FILE-SUFFIX (median ms)
  local s m
  s=$(median "$out/sv.$2") m=$(median "$out/mi.$2")
  row "$1" "$s ms" "$m ms" "$(ratio "$s" "$m")"
}
sv_version=$(supervisord --version)
mi_version=$("$build/minisupd" --version | awk '{ print $NF }')
echo
echo "supervisord $sv_version vs minisup $mi_version; $(date -u +%Y-%m-%d), $(nproc) cores," \
  "load average $load_start at the start, $load_end at the end"
echo
echo "| workload | supervisord | minisup | ratio (supervisord / minisup) |"
echo "|---|---|---|---|"
ms_row "spawn 100 programs until all RUNNING (median of $spawn_reps)" spawn100
ms_row "spawn 1,000 programs until all RUNNING (median of $spawn_reps)" spawn1000
ms_row "\`status\` CLI, 1,000 programs (median of $status_runs)" status
s=$(awk '{ printf "%.1f", $1 / 1024 }' "$out/sv.rss")
m=$(awk '{ printf "%.1f", $1 / 1024 }' "$out/mi.rss")
row "RSS of the supervisor, idle, 1,000 programs (VmRSS)" "$s MB" "$m MB" "$(ratio "$s" "$m")"
s=$(cat "$out/sv.wakeups") m=$(cat "$out/mi.wakeups")
row "context switches in ${idle_secs} s idle, 1,000 programs" "$s" "$m" \
  "$(if [ "$m" = 0 ]; then echo "- (minisup: none)"; else ratio "$s" "$m"; fi)"
ms_row "shutdown with 1,000 programs (SIGTERM until it exited)" shutdown
s=$(median "$out/sv.escalation") m=$(median "$out/mi.escalation")
row "SIGKILL escalation: death after stopwaitsecs = 1 (median / max of $kill_reps)" \
  "$s / $(maxof "$out/sv.escalation") ms" "$m / $(maxof "$out/mi.escalation") ms" "$(ratio "$s" "$m")"
s=$(median "$out/sv.restart") m=$(median "$out/mi.restart")
row "kill -9 -> new pid RUNNING (median / max of $kill_reps)" \
  "$s / $(maxof "$out/sv.restart") ms" "$m / $(maxof "$out/mi.restart") ms" "$(ratio "$s" "$m")"
s=$(median "$out/sv.log") m=$(median "$out/mi.log")
row "log throughput, $log_mb MB to a log file (MB/s, median of $log_reps; higher is better)" \
  "$s MB/s" "$m MB/s" "$(ratio "$s" "$m")"
