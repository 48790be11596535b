#!/usr/bin/env bash
# minisupctl's bash completion (conf/minisupctl.bash-completion): it parses
# (bash -n), registers itself for minisupctl (complete -p), and completing
# `minisupctl st` offers start, status and stop; its command list is the
# one of `minisupctl --help`.
# With a minisupd running, process names come from it.
# Usage: completion_test.sh SOURCE_DIR MINISUPD MINISUPCTL
set -uo pipefail
src=$1 minisupd=$2 minisupctl=$3
script="$src/conf/minisupctl.bash-completion"
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

bash -n "$script" || fail "bash -n $script"

# In a fresh bash: source it, then complete the way readline would.
# `complete` prints what it registered; $1 is the word being completed.
complete_words() {
  PATH="$(dirname "$minisupctl"):$PATH" bash --norc --noprofile -c '
    source "$1" || exit 1
    complete -p minisupctl || exit 1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    _minisupctl
    printf "%s\n" "${COMPREPLY[@]}"
  ' bash "$script" "$@"
}

out=$(complete_words minisupctl st) || fail "sourcing or registering failed: $out"
grep -qx "complete -F _minisupctl minisupctl" <<<"$out" || fail "complete -p shows no completion for minisupctl: $out"
offered=$(grep -v '^complete ' <<<"$out" | sort | tr '\n' ' ')
[[ $offered == "start status stop " ]] || fail "minisupctl st<TAB> offered '$offered', expected 'start status stop '"

offered=$(complete_words minisupctl -c x.toml stop --req | grep -v '^complete ' | sort | tr '\n' ' ')
[[ $offered == "--require-clean --require-graceful " ]] || fail "stop --req<TAB> offered '$offered'"

offered=$(complete_words minisupctl tail web st | grep -v '^complete ' | sort | tr '\n' ' ')
[[ $offered == "stderr stdout " ]] || fail "tail web st<TAB> offered '$offered'"

# Without a minisupd, names complete to `all` alone (no error, no hang).
offered=$(complete_words minisupctl -s /nonexistent/minisup.sock start "" | grep -v '^complete ' | tr '\n' ' ')
[[ $offered == "all " ]] || fail "start <TAB> without minisupd offered '$offered'"

# The commands it knows are those of minisupctl --help.
listed=$(sed -nE 's/^  local commands="(.*)"$/\1/p' "$script" | tr ' ' '\n' | sort)
helped=$("$minisupctl" --help | awk '/^[A-Za-z].*:$/ { s = $0; next } /^$/ { s = "" } s == "Subcommands:" && /^  [a-z]/ { print $1 }' | sort)
[[ -n $listed && $listed == "$helped" ]] || fail "commands in the completion ($(echo $listed)) differ from minisupctl --help ($(echo $helped))"

# Process names from a running minisupd (its `minisupctl status`).
dir=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/minisup.toml" <<TOML
[program.web]
command = ["sleep", "60"]
startsecs = 0
[program.worker]
command = ["sleep", "60"]
startsecs = 0
numprocs = 2
TOML
"$minisupd" -c "$dir/minisup.toml" 2>"$dir/minisupd.log" &
daemon=$!
if "$minisupctl" -c "$dir/minisup.toml" wait all --timeout 10 >/dev/null; then
  offered=$(complete_words minisupctl -c "$dir/minisup.toml" stop w | grep -v '^complete ' | sort | tr '\n' ' ')
  [[ $offered == "web worker:0 worker:1 " ]] || fail "stop w<TAB> offered '$offered', expected 'web worker:0 worker:1 '"
  offered=$(complete_words minisupctl -s "$dir/minisup.sock" signal HUP a | grep -v '^complete ' | tr '\n' ' ')
  [[ $offered == "all " ]] || fail "signal HUP a<TAB> offered '$offered'"
else
  fail "minisupd did not start: $(cat "$dir/minisupd.log")"
fi

if ((failures > 0)); then
  echo "$failures problem(s)"
  exit 1
fi
echo "completion: ok"
