#!/bin/bash
# Starts the demo appliance (`make run`): local Redis and PostgreSQL with the demo
# estate under var/, a demo channel receiver, stockmeshd, and a load generator.
# Everything listens on 127.0.0.1 only. Ctrl-C stops all of it.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=build
VAR=var
LOG=$VAR/log
PG_PORT=55432
REDIS_PORT=56379
RECEIVER_PORT=9090
CONSOLE=http://127.0.0.1:8080
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
LOAD_RATE=${LOAD_RATE:-50}

mkdir -p "$LOG" "$VAR/state"
pids=""

stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping the demo..."
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do wait "$pid" 2>/dev/null || true; done
    "$BIN/serverctl" stop "$VAR/postgres" >/dev/null 2>&1 || true
    "$BIN/serverctl" stop "$VAR/redis" >/dev/null 2>&1 || true
    echo "stopped. Data stays in $VAR/ (remove it for a fresh estate)."
}
trap stop INT TERM EXIT

for port in $PG_PORT $REDIS_PORT $RECEIVER_PORT 8080; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "port $port on 127.0.0.1 is in use: is another demo running? stop it first" >&2
        exit 1
    fi
done

if [ ! -s "$VAR/demo-secret" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/demo-secret"
    chmod 600 "$VAR/demo-secret"
fi

echo "starting Redis on 127.0.0.1:$REDIS_PORT ..."
"$BIN/serverctl" start redis "$VAR/redis" $REDIS_PORT >/dev/null
echo "starting PostgreSQL on 127.0.0.1:$PG_PORT ..."
"$BIN/serverctl" start postgres "$VAR/postgres" $PG_PORT >/dev/null

if ! $PSQL -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'retail'" | grep -q 1; then
    echo "loading the demo estate (3 locations x 300 SKUs) ..."
    $PSQL -d postgres -c "CREATE DATABASE retail"
    $PSQL -d retail -f examples/estate/retail.sql
fi

echo "starting the demo channel receiver on 127.0.0.1:$RECEIVER_PORT ..."
"$BIN/demo-receiver" --port $RECEIVER_PORT --secret-file "$VAR/demo-secret" >> "$LOG/receiver.log" 2>&1 &
pids="$pids $!"

echo "starting stockmeshd ..."
"$BIN/stockmeshd" -c examples/demo.yaml >> "$LOG/stockmeshd.log" 2>&1 &
pids="$pids $!"

i=0
until curl -fs "$CONSOLE/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "stockmeshd did not become healthy; see $LOG/stockmeshd.log:" >&2
        tail -n 20 "$LOG/stockmeshd.log" >&2
        exit 1
    fi
    sleep 0.2
done

echo "starting the load generator ($LOAD_RATE stock changes/s) ..."
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)
"$PGBENCH" -n -h 127.0.0.1 -p $PG_PORT -U postgres -c 1 -R "$LOAD_RATE" -T 86400 \
    -f examples/estate/load.pgbench retail >> "$LOG/load.log" 2>&1 &
pids="$pids $!"

cat <<MSG

stockmesh demo is running.
  health     $CONSOLE/healthz
  metrics    $CONSOLE/metrics
  a SKU      $BIN/stockmesh -c examples/demo.yaml sku SKU-00042
  logs       $LOG/stockmeshd.log   $LOG/receiver.log   $LOG/load.log
  databases  PostgreSQL 127.0.0.1:$PG_PORT (db retail)   Redis 127.0.0.1:$REDIS_PORT

Press Ctrl-C to stop.
MSG

# stay in the foreground until Ctrl-C or until stockmeshd exits on its own
wait
