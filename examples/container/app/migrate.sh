#!/bin/sh
# Stand-in for a schema migration: exits 0 when done. MIGRATE_FAIL=1 makes
# it fail, and the container exits 125 (api's dependency failed).
if [ -n "${MIGRATE_FAIL:-}" ]; then
  echo "migration failed: cannot reach the database" >&2
  exit 1
fi
echo "schema up to date"
