#!/bin/bash
# Run once by the postgres image's entrypoint, on an empty data directory: one
# login role and one database per keyhold service, the role owning its database.
# Passwords are read from the mounted Secret, never from the environment.
set -euo pipefail
for service in kms object audit; do
  password_file="/var/run/secrets/keyhold-db/${service}-password"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=name="keyhold_${service}" --set=password="$(cat "$password_file")" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
