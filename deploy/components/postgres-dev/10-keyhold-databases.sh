#!/bin/bash
# Run once by the postgres image's entrypoint, on an empty data directory: one
# login role and one database per keyhold service, the role owning its database.
# Passwords are read from the mounted Secret, never from the environment.
set -euo pipefail
# Where the Secret postgres-dev-secrets is mounted (postgres.yaml); a test run
# outside a cluster points it elsewhere.
secrets="${KEYHOLD_DB_SECRETS_DIR:-/var/run/secrets/keyhold-db}"
for service in kms object audit; do
  password_file="$secrets/${service}-password"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=name="keyhold_${service}" --set=password="$(cat "$password_file")" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
