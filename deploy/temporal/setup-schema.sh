#!/bin/sh
# One-shot job (temporalio/admin-tools image): create Temporal's two PostgreSQL databases and
# bring their schemas to the version this admin-tools image ships. Safe to run on every start:
#   - create-database ignores PostgreSQL's duplicate_database error,
#   - setup-schema -v 0.0 only creates the version tables if missing and never lowers the version,
#   - update-schema applies only the versions the database does not have yet,
# so upgrading the pinned Temporal images and running `docker compose up` upgrades the schema.
#
# Connection settings come from the environment, which temporal-sql-tool reads itself:
# SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD (kept out of argv, so out of `ps`).
set -eu

: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
: "${TEMPORAL_SCHEMA_DIR:=/etc/temporal/schema/postgresql/v12}"

setup_database() { # setup_database <database> <schema: temporal | visibility>
    echo "Temporal schema: $1"
    temporal-sql-tool --database "$1" create-database
    temporal-sql-tool --database "$1" setup-schema --version 0.0
    temporal-sql-tool --database "$1" update-schema --schema-dir "$TEMPORAL_SCHEMA_DIR/$2/versioned"
}

setup_database temporal temporal
setup_database temporal_visibility visibility
echo "Temporal schema is up to date"
