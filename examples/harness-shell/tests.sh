#!/bin/sh
# The test suite: each test_* function is a test; a failed assertion fails
# it. Exit 0 when all passed, 1 otherwise. With arguments, only the tests
# named (`minisupd -c minisup.toml --run tests -- test_insert`).
#
# HARNESS_BREAK=tests adds a wrong assertion (to see the status 1 pass
# through minisupd).
set -u

fail() { echo "    FAIL: $*"; failed=1; }
assert_eq() { [ "$1" = "$2" ] || fail "expected '$2', got '$1'${3:+ ($3)}"; }

test_db_is_ready() {
  [ -e state/db.ready ] || fail "state/db.ready missing: db not ready"
}

test_schema_is_migrated() {
  assert_eq "$(cat "$DB_DIR/schema_version" 2>/dev/null)" 2 "schema_version"
}

test_seeded_users() {
  assert_eq "$(tail -n +2 "$DB_DIR/users.csv" | wc -l)" 2 "rows in users"
  grep -q '^1,alice$' "$DB_DIR/users.csv" || fail "alice is not user 1"
}

test_insert() {
  echo "3,carol" >> "$DB_DIR/users.csv"
  assert_eq "$(grep -c carol "$DB_DIR/users.csv")" 1 "carol inserted once"
}

test_deliberately_broken() {
  assert_eq "$(tail -n +2 "$DB_DIR/users.csv" | wc -l)" 99 "rows in users"
}

all="test_db_is_ready test_schema_is_migrated test_seeded_users test_insert"
[ "${HARNESS_BREAK:-}" = tests ] && all="$all test_deliberately_broken"
tests=${*:-$all}
passed=0 failures=0
for t in $tests; do
  failed=0
  "$t"
  if [ "$failed" = 0 ]; then
    echo "ok   $t"; passed=$((passed + 1))
  else
    echo "FAIL $t"; failures=$((failures + 1))
  fi
done
echo "$passed passed, $failures failed"
[ "$failures" = 0 ]
