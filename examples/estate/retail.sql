-- The demo retail estate's ERP (PostgreSQL): stock for a warehouse and two stores, 300
-- SKUs each, and the catalog's UPC → SKU crosswalk. stockmesh reads both by logical
-- replication. The stores' POS is a MariaDB database (pos.sql).

CREATE TABLE stock_levels (
    sku           text        NOT NULL,
    location_code text        NOT NULL,
    on_hand       integer     NOT NULL DEFAULT 0,
    committed     integer     NOT NULL DEFAULT 0,
    unavailable   integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, location_code)
);

INSERT INTO stock_levels (sku, location_code, on_hand, committed, unavailable)
SELECT 'SKU-' || lpad(s::text, 5, '0'),
       l.code,
       CASE l.code WHEN 'WH1' THEN 200 + (s * 37) % 300 ELSE 5 + (s * 13) % 40 END,
       CASE l.code WHEN 'WH1' THEN (s * 7) % 20 ELSE (s * 3) % 4 END,
       CASE WHEN s % 17 = 0 THEN 2 ELSE 0 END
FROM generate_series(1, 300) AS s,
     (VALUES ('WH1'), ('S12'), ('S14')) AS l(code);

-- The account stockmesh reads with: replication, and read access to what it maps.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stockmesh') THEN
        CREATE ROLE stockmesh WITH LOGIN REPLICATION;
    END IF;
END
$$;
GRANT SELECT ON stock_levels TO stockmesh;
-- creating the publication needs CREATE on the database and ownership of the tables
ALTER TABLE stock_levels OWNER TO stockmesh;
GRANT CREATE ON DATABASE retail TO stockmesh;

-- The catalog's crosswalk: the stores' POS systems know items by UPC, the ERP and the
-- channels by SKU. stockmesh replicates this table and translates POS rows through it.
CREATE TABLE item_codes (
    upc text PRIMARY KEY,
    sku text NOT NULL
);
INSERT INTO item_codes (upc, sku)
SELECT '4006381' || lpad(s::text, 5, '0'), 'SKU-' || lpad(s::text, 5, '0')
FROM generate_series(1, 300) AS s;
GRANT SELECT ON item_codes TO stockmesh;
ALTER TABLE item_codes OWNER TO stockmesh;
