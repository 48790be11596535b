#!/usr/bin/env bash
# The man pages against the programs' --help:
#   1. every option of `minisupd --help`, `minisupctl --help` and each
#      `minisupctl COMMAND --help` appears in minisupd(8) / minisupctl(1),
#      and every command is an entry of minisupctl(1)'s COMMANDS;
#   2. vice versa: every option the pages list (SYNOPSIS, OPTIONS, and the
#      first line of each COMMANDS entry) is in some --help, and every
#      COMMANDS entry is a command;
#   3. every page renders without a warning (`groff -man -ww -z`).
# Usage: man_pages_test.sh SOURCE_DIR MINISUPD MINISUPCTL [help|render]
# Exit 0 when all holds, 1 with the differences listed, 77 (skipped) when
# groff is missing and cannot be installed.
set -uo pipefail
src=$1 minisupd=$2 minisupctl=$3 part=${4:-all}
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# A man page as plain text: \- is -, font escapes and \(xx dropped.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(..//g' -e 's/\\&//g' "$1"; }

# The options listed by `--help` on stdin: the first column of the lines of
# its Options: section, split at commas (`-c,--config TEXT ...`).
help_options() {
  awk '/^[A-Za-z].*:$/ { section = $0; next } /^$/ { section = "" }
       section == "Options:" && /^  -/ {
         n = split($1, names, ",")
         for (i = 1; i <= n; i++) if (names[i] ~ /^-/) print names[i]
       }'
}

# The commands listed by `minisupctl --help` (its Subcommands: section).
help_commands() {
  awk '/^[A-Za-z].*:$/ { section = $0; next } /^$/ { section = "" }
       section == "Subcommands:" && /^  [a-z]/ { print $1 }'
}

# Options (-x, --long-name) in the text on stdin, one per line.
options_in() { grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]+//' | sort -u; }

# Lines of section $2 (.SH NAME) of page $1, as plain text.
section() { plain "$1" | awk -v want=".SH $2" '/^\.SH / { on = ($0 == want); next } on'; }

# The first line after each .TP in section $2 of page $1: the entry's head.
entry_heads() { section "$1" "$2" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }'; }

# Is option $1 mentioned in text $2 (as a whole word)?
mentions() { grep -qE -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|$)" <<<"$2"; }

check_help() {
  local ctl_page="$src/man/minisupctl.1" daemon_page="$src/man/minisupd.8"

  # --help -> man pages.
  local daemon_opts ctl_opts commands command opt
  daemon_opts=$("$minisupd" --help | help_options | sort -u)
  ctl_opts=$("$minisupctl" --help | help_options)
  commands=$("$minisupctl" --help | help_commands)
  [[ -n $daemon_opts && -n $ctl_opts && -n $commands ]] || fail "could not read the --help output"
  for opt in $daemon_opts; do
    mentions "$opt" "$(section "$daemon_page" OPTIONS)" || fail "minisupd --help has $opt, minisupd.8 OPTIONS does not"
  done
  for opt in $ctl_opts; do
    mentions "$opt" "$(section "$ctl_page" OPTIONS)" || fail "minisupctl --help has $opt, minisupctl.1 OPTIONS does not"
  done
  local heads
  heads=$(entry_heads "$ctl_page" COMMANDS)
  for command in $commands; do
    grep -qE "^\.BR? $command( |$)" <<<"$heads" || fail "minisupctl has the command $command, minisupctl.1 COMMANDS does not"
    local head
    head=$(grep -E "^\.BR? $command( |$)" <<<"$heads")
    for opt in $("$minisupctl" "$command" --help | help_options); do
      [[ $opt == -h || $opt == --help ]] && continue  # OPTIONS: `minisupctl COMMAND --help`
      [[ $opt == --json ]] && continue                # OPTIONS: "also after the command"
      mentions "$opt" "$head" || fail "minisupctl $command --help has $opt, its minisupctl.1 entry does not"
      ctl_opts+=$'\n'"$opt"
    done
  done

  # Man pages -> --help.
  local listed
  listed=$( { section "$ctl_page" SYNOPSIS; section "$ctl_page" OPTIONS | grep -E '^\.(B|BI|BR|TP)'; entry_heads "$ctl_page" COMMANDS; } | options_in)
  for opt in $listed; do
    grep -qxF -- "$opt" <<<"$ctl_opts" || fail "minisupctl.1 lists $opt, no minisupctl --help has it"
  done
  for command in $(sed -nE 's/^\.BR? ([a-z]+)( .*)?$/\1/p' <<<"$heads" | sort -u); do
    grep -qxF -- "$command" <<<"$commands" || fail "minisupctl.1 COMMANDS has $command, minisupctl --help does not"
  done
  listed=$( { section "$daemon_page" SYNOPSIS; entry_heads "$daemon_page" OPTIONS; } | options_in)
  for opt in $listed; do
    [[ $opt == -- ]] && continue
    grep -qxF -- "$opt" <<<"$daemon_opts" || fail "minisupd.8 lists $opt, minisupd --help does not have it"
  done
}

check_render() {
  if ! command -v groff >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "groff is missing: installing groff-base"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq groff-base >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq groff-base >/dev/null 2>&1; }
    fi
    if ! command -v groff >/dev/null 2>&1; then
      echo "SKIP: groff is not installed and could not be installed (apt-get install groff-base as root)"
      return 77
    fi
  fi
  local page warnings
  for page in "$src"/man/*.[1-8]; do
    warnings=$(groff -man -ww -z "$page" 2>&1)
    [[ -z $warnings ]] || fail "$(basename "$page") renders with warnings:"$'\n'"$warnings"
  done
}

status=0
case $part in
  help) check_help ;;
  render) check_render || status=$? ;;
  all) check_help; check_render || status=$? ;;
esac
if ((failures > 0)); then
  echo "$failures problem(s)"
  exit 1
fi
exit "$status"
