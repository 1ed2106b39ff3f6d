-- The stores' POS database (MariaDB): shelf counts per store, by UPC. It observes the
-- stores' stock; the ERP is authoritative for it (authority in examples/demo.yaml), so
-- where the two disagree for longer than the grace period store ops get an alert.
-- The counts start equal to the ERP's (examples/estate/retail.sql), except two.
CREATE TABLE shelf_counts (
    upc        VARCHAR(14) NOT NULL,
    store      VARCHAR(8)  NOT NULL,
    qty        INT         NOT NULL,
    counted_at DATETIME    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (upc, store)
) ENGINE=InnoDB;

INSERT INTO shelf_counts (upc, store, qty)
SELECT CONCAT('4006381', LPAD(s.seq, 5, '0')), l.code,
       5 + (s.seq * 13) % 40
         + CASE WHEN s.seq = 7 AND l.code = 'S12' THEN 3
                WHEN s.seq = 42 AND l.code = 'S14' THEN 2 ELSE 0 END
FROM seq_1_to_300 s CROSS JOIN (SELECT 'S12' AS code UNION ALL SELECT 'S14') l;

-- The account stockmesh reads with: the binlog and the table.
CREATE USER IF NOT EXISTS 'stockmesh'@'127.0.0.1' IDENTIFIED BY 'stockmesh-demo';
GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'stockmesh'@'127.0.0.1';
