#!/bin/sh
# The migration job: creates the schema in the db's data directory and
# seeds it. Runs after db is ready; `tests` starts only once this has
# exited 0. HARNESS_BREAK=migrate makes it fail (exit 3), and then `tests`
# never runs: `minisupd --run tests` exits 125.
set -eu

if [ "${HARNESS_BREAK:-}" = migrate ]; then
  echo "migration 2 failed: column users.email already exists" >&2
  exit 3
fi

printf 'id,name\n1,alice\n2,bob\n' > "$DB_DIR/users.csv"
echo 2 > "$DB_DIR/schema_version"
echo "schema at version 2, 2 users seeded"
