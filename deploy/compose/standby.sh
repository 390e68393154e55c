#!/bin/bash
# The standby: on its first start, a base backup of the primary (pg_basebackup -R
# writes standby.signal and primary_conninfo, named standby1 for
# synchronous_standby_names); then PostgreSQL, streaming from the primary.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    export PGPASSWORD="$REPLICATION_PASSWORD"
    until pg_isready -h "$PRIMARY_HOST" -U replicator -d postgres; do sleep 1; done
    pg_basebackup -D "$PGDATA" -X stream -S standby1 -R \
        -d "host=$PRIMARY_HOST user=replicator application_name=standby1"
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
