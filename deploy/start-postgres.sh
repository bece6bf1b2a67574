#!/usr/bin/env bash
# Make a PostgreSQL server answer on 127.0.0.1, with the role and database the service
# tests (and a one-machine trial of `grade worker`) use.
#
# Idempotent, like docker/start-dockerd.sh: when the server answers and the role and
# database exist, nothing happens. Otherwise: installs Debian's postgresql when missing,
# creates a cluster when there is none (pg_createcluster, listening on 127.0.0.1 only),
# starts it (pg_ctlcluster, no systemd needed), waits for pg_isready, then creates the
# role and database.
#
#   PGPORT          the port (default 5432)
#   PG_TEST_USER    the role (default grader), PG_TEST_PASSWORD its password (default grader)
#   PG_TEST_DB      the database it owns (default grader_test); it may create databases
#                   (each test makes one of its own)
#   PG_TIMEOUT      seconds to wait for the server (default 60)
#
# Prints the SQLAlchemy URL on stdout, e.g.
#   postgresql+psycopg://grader:grader@127.0.0.1:5432/grader_test
set -euo pipefail

PGPORT=${PGPORT:-5432}
PG_TEST_USER=${PG_TEST_USER:-grader}
PG_TEST_PASSWORD=${PG_TEST_PASSWORD:-grader}
PG_TEST_DB=${PG_TEST_DB:-grader_test}
PG_TIMEOUT=${PG_TIMEOUT:-60}

say() { printf 'start-postgres: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

answers() { pg_isready -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; }
as_postgres() { runuser -u postgres -- "$@"; }
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" "$@"; }

ready() {  # the server answers and our role can log in to our database
    answers && PGPASSWORD=$PG_TEST_PASSWORD psql -X -q -h 127.0.0.1 -p "$PGPORT" \
        -U "$PG_TEST_USER" -d "$PG_TEST_DB" -c 'SELECT 1' >/dev/null 2>&1
}

url() { echo "postgresql+psycopg://$PG_TEST_USER:$PG_TEST_PASSWORD@127.0.0.1:$PGPORT/$PG_TEST_DB"; }

if ready; then
    say "PostgreSQL answers on 127.0.0.1:$PGPORT: nothing to do"
    url
    exit 0
fi

if ! answers; then
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL must be installed and started as root (run: sudo $0)"
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres \
            >/dev/null 2>&1; then
        say "PostgreSQL not found: installing Debian's postgresql"
        export DEBIAN_FRONTEND=noninteractive
        apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }
        # Debian's package makes and starts a cluster itself where it can; we check below.
        apt_get install --no-install-recommends postgresql >/dev/null 2>&1 \
            || { apt_get update >/dev/null && apt_get install --no-install-recommends \
                 postgresql >/dev/null; } \
            || die "could not install postgresql with apt-get"
    fi
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    cluster=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PGPORT" '$3 == p {print $1 " " $2; exit}')
    if [[ -z $cluster ]]; then
        say "creating cluster $version/ci on port $PGPORT (127.0.0.1 only)"
        pg_createcluster "$version" ci --port "$PGPORT" -- --auth-local=peer \
            --auth-host=scram-sha-256 >/dev/null
        cluster="$version ci"
    fi
    read -r cversion cname <<<"$cluster"
    conf=/etc/postgresql/$cversion/$cname/postgresql.conf
    if [[ -f $conf ]] && ! grep -q "^listen_addresses = '127.0.0.1'" "$conf"; then
        echo "listen_addresses = '127.0.0.1'" >>"$conf"   # never on another interface
    fi
    say "starting cluster $cversion/$cname"
    pg_ctlcluster "$cversion" "$cname" start 2>&1 | tail -n 3 >&2 || true
    deadline=$((SECONDS + PG_TIMEOUT))
    until answers; do
        ((SECONDS < deadline)) || die "PostgreSQL did not answer on 127.0.0.1:$PGPORT within \
${PG_TIMEOUT}s; see /var/log/postgresql/postgresql-$cversion-$cname.log"
        sleep 0.2
    done
fi

say "creating role $PG_TEST_USER and database $PG_TEST_DB"
psql_admin -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_TEST_USER') THEN
    CREATE ROLE "$PG_TEST_USER" LOGIN CREATEDB PASSWORD '$PG_TEST_PASSWORD';
  ELSE
    ALTER ROLE "$PG_TEST_USER" LOGIN CREATEDB PASSWORD '$PG_TEST_PASSWORD';
  END IF;
END
\$\$;
SQL
if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_TEST_DB'" \
        | grep -q 1; then
    psql_admin -d postgres -c "CREATE DATABASE \"$PG_TEST_DB\" OWNER \"$PG_TEST_USER\""
fi
ready || die "role $PG_TEST_USER cannot log in to $PG_TEST_DB on 127.0.0.1:$PGPORT (pg_hba.conf?)"
say "PostgreSQL is up: $(url)"
url
