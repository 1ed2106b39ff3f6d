#!/bin/bash
# Starts the demo appliance (`make run`): local Redis, PostgreSQL (the ERP) and MariaDB
# (the stores' POS) with the demo estate under var/, a demo channel receiver,
# stockmeshd, and load generators.
# Everything listens on 127.0.0.1 only. Ctrl-C stops all of it.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=build
VAR=var
LOG=$VAR/log
PG_PORT=55432
MARIA_PORT=53306
REDIS_PORT=56379
RECEIVER_PORT=9090
CONSOLE=http://127.0.0.1:8080
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
LOAD_RATE=${LOAD_RATE:-50}

mkdir -p "$LOG" "$VAR/state"
pids=""

stop() {
    trap - INT TERM HUP EXIT
    trap '' PIPE # the terminal or a pipe reading our output may be gone already
    echo
    echo "stopping the demo..."
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do wait "$pid" 2>/dev/null || true; done
    "$BIN/serverctl" stop "$VAR/postgres" >/dev/null 2>&1 || true
    "$BIN/serverctl" stop "$VAR/mariadb" >/dev/null 2>&1 || true
    "$BIN/serverctl" stop "$VAR/redis" >/dev/null 2>&1 || true
    echo "stopped. Data stays in $VAR/ (remove it for a fresh estate)."
}
trap stop INT TERM HUP EXIT

for port in $PG_PORT $MARIA_PORT $REDIS_PORT $RECEIVER_PORT 8080; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "port $port on 127.0.0.1 is in use: is another demo running? stop it first" >&2
        exit 1
    fi
done

if [ ! -s "$VAR/pos.password" ]; then
    echo stockmesh-demo > "$VAR/pos.password"
    chmod 600 "$VAR/pos.password"
fi
if [ ! -s "$VAR/demo-secret" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/demo-secret"
    chmod 600 "$VAR/demo-secret"
fi

echo "starting Redis on 127.0.0.1:$REDIS_PORT ..."
"$BIN/serverctl" start redis "$VAR/redis" $REDIS_PORT >/dev/null
# stock written by a stockmesh from before the layout was recorded (DESIGN §3): the
# daemon would refuse it; a fresh demo is quicker than a replay
if [ -z "$(redis-cli -p $REDIS_PORT GET stockmesh:layout)" ] &&
   [ -n "$(redis-cli -p $REDIS_PORT --scan --pattern 'sm:{*' | head -1)" ]; then
    echo "$VAR/ holds stock from an older stockmesh (Redis layout 2):" >&2
    echo "remove it (rm -rf $VAR) and run again for a fresh estate" >&2
    exit 1
fi
echo "starting PostgreSQL on 127.0.0.1:$PG_PORT ..."
"$BIN/serverctl" start postgres "$VAR/postgres" $PG_PORT >/dev/null

echo "starting MariaDB on 127.0.0.1:$MARIA_PORT ..."
"$BIN/serverctl" start mariadb "$VAR/mariadb" $MARIA_PORT >/dev/null

if ! $PSQL -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'retail'" | grep -q 1; then
    echo "loading the demo ERP (3 locations x 300 SKUs, UPC crosswalk) ..."
    $PSQL -d postgres -c "CREATE DATABASE retail"
    $PSQL -d retail -f examples/estate/retail.sql
fi
if ! $PSQL -d retail -tAc "SELECT 1 FROM pg_tables WHERE tablename = 'item_codes'" | grep -q 1; then
    echo "$VAR/ holds a demo estate from an older stockmesh (no item_codes crosswalk):" >&2
    echo "remove it (rm -rf $VAR) and run again for a fresh estate" >&2
    exit 1
fi
MARIA="mariadb -h 127.0.0.1 -P $MARIA_PORT -u root"
if ! $MARIA -N -e "SHOW DATABASES LIKE 'pos'" | grep -q pos; then
    echo "loading the demo stores' POS (2 stores x 300 UPCs) ..."
    $MARIA -e "CREATE DATABASE pos"
    $MARIA pos < examples/estate/pos.sql
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
examples/estate/store-sales.sh $PG_PORT $MARIA_PORT >> "$LOG/load.log" 2>&1 &
pids="$pids $!"

cat <<MSG

stockmesh demo is running.
  health     $CONSOLE/healthz
  metrics    $CONSOLE/metrics
  a SKU      $BIN/stockmesh -c examples/demo.yaml sku SKU-00042
  alerts     $BIN/stockmesh -c examples/demo.yaml alerts
             (SKU-00007 at S12 and SKU-00042 at S14 start out miscounted in the POS)
  logs       $LOG/stockmeshd.log   $LOG/receiver.log   $LOG/load.log
  databases  PostgreSQL 127.0.0.1:$PG_PORT (db retail)   MariaDB 127.0.0.1:$MARIA_PORT (db pos)
             Redis 127.0.0.1:$REDIS_PORT

Press Ctrl-C to stop.
MSG

# stay in the foreground until Ctrl-C or until stockmeshd exits on its own
wait
