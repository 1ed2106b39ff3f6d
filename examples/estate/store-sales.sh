#!/bin/bash
# Demo load for the stores: a sale at S12 or S14 every INTERVAL seconds, booked in the
# store's POS (MariaDB) and in the ERP (PostgreSQL), and a delivery now and then. About
# one sale in fifty never reaches the ERP, so the two systems disagree until a stock
# count (every 60 steps) corrects the ERP for the oldest such item; stockmesh alerts
# store ops in between, and the alert resolves itself after the count.
#   store-sales.sh PG_PORT MARIADB_PORT [INTERVAL]
set -u
PG_PORT=$1
MARIA_PORT=$2
INTERVAL=${3:-0.5}
PSQL="psql -X -q -h 127.0.0.1 -p $PG_PORT -U postgres -d retail"
MARIA="mariadb -h 127.0.0.1 -P $MARIA_PORT -u root pos"
n=0
lost=()
while sleep "$INTERVAL"; do
    n=$((n + 1))
    s=$((RANDOM % 300 + 1))
    store=$([ $((RANDOM % 2)) -eq 0 ] && echo S12 || echo S14)
    sku=$(printf 'SKU-%05d' "$s")
    upc=$(printf '4006381%05d' "$s")
    if [ $((n % 20)) -eq 0 ]; then
        # a delivery, booked in both systems
        $MARIA -e "UPDATE shelf_counts SET qty = qty + 10, counted_at = NOW() WHERE upc = '$upc' AND store = '$store'"
        $PSQL -c "UPDATE stock_levels SET on_hand = on_hand + 10, updated_at = now() WHERE sku = '$sku' AND location_code = '$store'"
    elif [ $((n % 60)) -eq 0 ] && [ ${#lost[@]} -gt 0 ]; then
        # a stock count: the ERP takes over the shelf count of the oldest lost sale's item
        read -r cs cstore <<<"${lost[0]}"
        lost=("${lost[@]:1}")
        cqty=$($MARIA -N -e "SELECT qty FROM shelf_counts WHERE upc = '$(printf '4006381%05d' "$cs")' AND store = '$cstore'")
        [ -n "$cqty" ] && $PSQL -c "UPDATE stock_levels SET on_hand = $cqty, updated_at = now() WHERE sku = '$(printf 'SKU-%05d' "$cs")' AND location_code = '$cstore'"
    else
        qty=$((RANDOM % 2 + 1))
        $MARIA -e "UPDATE shelf_counts SET qty = GREATEST(0, qty - $qty), counted_at = NOW() WHERE upc = '$upc' AND store = '$store'"
        if [ $((RANDOM % 50)) -ne 0 ]; then
            $PSQL -c "UPDATE stock_levels SET on_hand = GREATEST(0, on_hand - $qty), updated_at = now() WHERE sku = '$sku' AND location_code = '$store'"
        else
            lost+=("$s $store")
        fi
    fi
done
