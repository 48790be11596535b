#!/usr/bin/env bash
# The supervisorctl column of minisupctl(1)'s "Exit status of each command"
# table, measured: each row's situation is made with a real supervisord
# (Debian's `supervisor` package) and programs like those of
# tests/integration/exit_codes_test.cc, which holds our column. Rows whose
# supervisorctl code is `-` (no such command or option) are not run.
# Skipped (77) when supervisord is not installed: it is not installed here,
# as its package starts a system-wide supervisord.
# Usage: supervisorctl_exit_codes_test.sh SOURCE_DIR
set -uo pipefail
src=$1
if ! command -v supervisord >/dev/null || ! command -v supervisorctl >/dev/null; then
  echo "SKIP: supervisord is not installed (apt-get install supervisor)"
  exit 77
fi
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

dir=$(mktemp -d)
cleanup() {
  [[ -s $dir/supervisord.pid ]] && kill "$(cat "$dir/supervisord.pid")" 2>/dev/null && sleep 1
  rm -rf "$dir"
}
trap cleanup EXIT

write_config() {
  cat >"$dir/supervisord.conf" <<EOF
[unix_http_server]
file=$dir/sv.sock

[supervisord]
logfile=$dir/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$dir

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$dir/sv.sock

[program:ok]
command=/bin/sleep 600
startsecs=0

[program:off]
command=/bin/sleep 600
autostart=false
startsecs=0

[program:missing]
command=/nonexistent/minisup-test
autostart=false
startretries=0

[program:quick]
command=/bin/false
autostart=false
startsecs=1
startretries=0

[program:stubborn]
command=/bin/sh -c 'trap "" TERM; while :; do sleep 1; done'
autostart=false
startsecs=0
stopwaitsecs=1

[program:quiet]
command=/bin/sleep 600
stdout_logfile=NONE
startsecs=0
EOF
}
write_config
supervisord -c "$dir/supervisord.conf" || { echo "supervisord did not start"; exit 1; }
for _ in $(seq 100); do
  supervisorctl -c "$dir/supervisord.conf" status ok >/dev/null 2>&1 && break
  sleep 0.1
done

ctl() { supervisorctl -c "$dir/supervisord.conf" "$@" >>"$dir/ctl.out" 2>&1; }
# Quietly, for set-up steps.
quiet() { ctl "$@" || true; }
no_socket() { supervisorctl -s "unix://$dir/no-such.sock" "$@" >>"$dir/ctl.out" 2>&1; }
stale_socket() {
  [[ -S $dir/stale.sock ]] || python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$dir/stale.sock"
  supervisorctl -s "unix://$dir/stale.sock" "$@" >>"$dir/ctl.out" 2>&1
}
broken() {
  printf '\n[program:broken]\nstopwaitsecs=ten\n' >>"$dir/supervisord.conf"
  ctl "$@"
  local code=$?
  write_config
  return $code
}

# Each row's situation, by "COMMAND|SITUATION" as in the man page.
run_row() {
  case $1 in
    "status|every listed process is running") ctl status ok ;;
    "status|a listed process is STOPPED, EXITED or FATAL") ctl status ok off ;;
    "status|no such process") ctl status nosuch ;;
    "status|minisupd not running") no_socket status ;;
    "start|started") quiet stop off; ctl start off ;;
    "start|already started") ctl start ok ;;
    "start|failed: exited too quickly (FATAL)") ctl start quick ;;
    "start|failed: the command does not exist") ctl start missing ;;
    "start|no such process") ctl start nosuch ;;
    "start|no such group (GROUP:*)") ctl start 'nosuch:*' ;;
    "start|no name") ctl start ;;
    "stop|stopped") quiet start off; ctl stop off ;;
    "stop|not running") ctl stop off ;;
    "stop|needed SIGKILL") quiet start stubborn; sleep 0.5; ctl stop stubborn ;;
    "stop|no such process") ctl stop nosuch ;;
    "stop|no name") ctl stop ;;
    "restart|restarted") ctl restart ok ;;
    "restart|failed to start again (FATAL)") ctl restart quick ;;
    "restart|no such process") ctl restart nosuch ;;
    "signal|signalled") ctl signal CONT ok ;;
    "signal|not running") quiet stop off; ctl signal CONT off ;;
    "signal|all, some not running") quiet stop off; ctl signal CONT all ;;
    "signal|no such process") ctl signal CONT nosuch ;;
    "signal|unknown signal") ctl signal BOGUS ok ;;
    "pid|minisupd's pid (no name)") ctl pid ;;
    "pid|running process") ctl pid ok ;;
    "pid|not running (prints 0)") quiet stop off; ctl pid off ;;
    "pid|no such process") ctl pid nosuch ;;
    "tail|output in a log file") ctl tail ok ;;
    "tail|NONE stream") ctl tail quiet ;;
    "tail|no such process") ctl tail nosuch ;;
    "tail|bad stream name") ctl tail ok bogus ;;
    "clear|cleared") ctl clear ok ;;
    "clear|no such process") ctl clear nosuch ;;
    "reread|changes shown") ctl reread ;;
    "reread|the config has errors") broken reread ;;
    "reread|minisupd not running") no_socket reread ;;
    "update|applied") ctl update ;;
    "update|the config has errors") broken update ;;
    "update|minisupd not running") no_socket update ;;
    "shutdown|shut down") ctl shutdown ;;  # run last (below)
    "shutdown|minisupd not running") no_socket shutdown ;;
    "version|shown") ctl version ;;
    "any|unknown command") ctl frobnicate ;;
    "any|unknown option") ctl --bogus status ;;
    "any|minisupd not running (no socket file)") no_socket start ok ;;
    "any|stale socket file (connection refused)") stale_socket start ok ;;
    *) return 255 ;;
  esac
}

# The table: the first .EX block after the heading, \- made -.
table=$(sed -e 's/\\-/-/g' "$src/man/minisupctl.1" |
  awk '/^\.SS Exit status of each command/ { on = 1 } on && /^\.EX/ { t = 1; next } t && /^\.EE/ { exit } t')
rows=0 last=""
while IFS= read -r line; do
  [[ $line == COMMAND* || -z $line ]] && continue
  if [[ ! $line =~ ^([^ ]+)\ +(.*[^ ])\ +([0-9]+)\ +([0-9]+|-)(\ +([a-z]))?\ *$ ]]; then
    fail "unreadable row: $line"
    continue
  fi
  key="${BASH_REMATCH[1]}|${BASH_REMATCH[2]}" expected=${BASH_REMATCH[4]}
  [[ $expected == - ]] && continue
  if [[ $key == "shutdown|shut down" ]]; then
    last=$key
    last_expected=$expected
    continue
  fi
  echo "== $key" >>"$dir/ctl.out"
  run_row "$key"
  code=$?
  rows=$((rows + 1))
  if ((code == 255)); then
    fail "no situation for the row '$key'"
  elif [[ $code != "$expected" ]]; then
    fail "$key: supervisorctl exits $code, the table says $expected"
  fi
done <<<"$table"
if [[ -n $last ]]; then
  run_row "$last"
  code=$?
  rows=$((rows + 1))
  [[ $code == "$last_expected" ]] || fail "$last: supervisorctl exits $code, the table says $last_expected"
fi
((rows > 30)) || fail "only $rows rows read from minisupctl.1"

if ((failures > 0)); then
  echo "$failures problem(s); supervisorctl's output:"
  cat "$dir/ctl.out"
  exit 1
fi
echo "supervisorctl exit codes: $rows rows as in minisupctl(1)"
