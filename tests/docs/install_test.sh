#!/usr/bin/env bash
# `cmake --install` with a prefix of its own, staged under a temporary
# DESTDIR (so nothing can reach the real system): the binaries, man pages,
# conf/ samples, systemd unit and bash completion land in GNUInstallDirs'
# places under the prefix, the unit names the installed minisupd, and both
# programs' --version is CMake's project(VERSION).
# Usage: install_test.sh BUILD_DIR VERSION
set -uo pipefail
build=$1 version=$2
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
installed=/opt/minisup-install-test  # the prefix, as the installed files see it
prefix=$stage$installed              # where they are

DESTDIR=$stage cmake --install "$build" --prefix "$installed" >"$stage/install.log" 2>&1 ||
  { cat "$stage/install.log"; fail "cmake --install failed"; }
outside=$(cd "$stage" && find . -type f ! -path "./opt/minisup-install-test/*" ! -name install.log)
[[ -z $outside ]] || fail "installed outside the prefix: $outside"
for file in bin/minisupd bin/minisupctl \
  share/man/man1/minisupctl.1 share/man/man5/minisup.toml.5 share/man/man7/minisup-protocol.7 \
  share/man/man8/minisupd.8 \
  share/doc/minisup/examples/minisup.toml share/doc/minisup/examples/minisupd.service \
  share/doc/minisup/examples/logrotate.minisup \
  lib/systemd/system/minisupd.service share/bash-completion/completions/minisupctl; do
  [[ -f $prefix/$file ]] || fail "not installed: $file"
done
[[ -x $prefix/bin/minisupd && -x $prefix/bin/minisupctl ]] || fail "binaries not executable"
grep -qx "ExecStart=$installed/bin/minisupd -c $installed/etc/minisup/minisup.toml" \
  "$prefix/lib/systemd/system/minisupd.service" ||
  fail "the unit does not run the installed minisupd: $(grep ExecStart= "$prefix/lib/systemd/system/minisupd.service")"

out=$("$prefix/bin/minisupd" --version)
[[ $out == "minisupd $version" ]] || fail "minisupd --version says '$out', CMake's version is $version"
out=$("$prefix/bin/minisupctl" --version)
[[ $out == "minisupctl $version" ]] || fail "minisupctl --version says '$out', CMake's version is $version"

if ((failures > 0)); then
  echo "$failures problem(s)"
  exit 1
fi
echo "install: ok"
