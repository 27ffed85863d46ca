-- The last retrieval of a credential, read from the index alone.
--
-- credential_list reports each credential's last retrieve, read or refresh:
-- the newest access-log row of the credential whose op is one of those.
-- The index of 0001, (secret_id, accessed_at DESC), finds the credential's
-- newest rows, but each op had to be read from the table, one random heap
-- page per row, which with millions of access-log rows is a cache miss per
-- listed credential. This index carries op as well, so the probe is an
-- index-only scan (once vacuum has marked the log's pages all-visible,
-- which autovacuum does for append-only tables from PostgreSQL 13 on); it
-- replaces the old index, which it covers for every other query.
--
-- Building it takes a SHARE lock on vault_access_log: retrievals, which
-- append to the log, wait until the index is built (about 10 s per 10
-- million rows on two cores). On a large log, apply this migration at a
-- quiet time, or build the index beforehand with
--   CREATE INDEX CONCURRENTLY vault_access_log_secret_id_accessed_at_op_idx
--       ON <schema>.vault_access_log (secret_id, accessed_at DESC) INCLUDE (op);
-- which this migration then keeps if it is valid; let such a build finish
-- before migrating (while it runs its index counts as invalid, and the
-- migration would wait for it and then build the index again). An index of
-- that name left invalid by an interrupted CREATE INDEX CONCURRENTLY is
-- dropped and built again; the old index may already have been dropped by
-- hand. An existing relation of that name is kept whatever its definition.

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_index AS i
                 JOIN pg_catalog.pg_class AS x ON x.oid OPERATOR(pg_catalog.=) i.indexrelid
                 JOIN pg_catalog.pg_type AS t ON t.typrelid OPERATOR(pg_catalog.=) i.indrelid
                WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.pg_typeof(NULL::@schema@.vault_access_log)
                  AND x.relname OPERATOR(pg_catalog.=) 'vault_access_log_secret_id_accessed_at_op_idx'
                  AND NOT i.indisvalid) THEN
        DROP INDEX @schema@.vault_access_log_secret_id_accessed_at_op_idx;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS vault_access_log_secret_id_accessed_at_op_idx
    ON @schema@.vault_access_log (secret_id, accessed_at DESC) INCLUDE (op);
DROP INDEX IF EXISTS @schema@.vault_access_log_secret_id_accessed_at_idx;
