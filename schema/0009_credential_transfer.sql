-- Moving credentials to another database (another Supabase project, a
-- staging copy, a self-hosted server). A dump and restore cannot carry Vault
-- secrets: postgres may not write vault.secrets, and each project has its
-- own root key, so the ciphertext would not decrypt there anyway. These
-- functions let the owner read credentials out in plaintext (to be encrypted
-- at once by the client, see package bundle) and re-create them elsewhere
-- through vault.create_secret, keeping their metadata, and rewrite the
-- columns of the owner's tables that keep their ids.
--
-- Every function here is executable by the owner only: an export decrypts
-- every credential it reads, which is an operator's act, not a service's.
--
-- Export. export_credentials returns one page of credentials, in id order
-- after p_after_id (keyset paging: each call costs the same however far the
-- export has gone), with their decrypted value, and writes one access-log
-- row (op export) for each. The page is chosen from vault.secrets and the
-- bookkeeping without decrypting anything; only the rows returned are
-- decrypted. Vault secrets without bookkeeping belong to the default
-- namespace, as everywhere else.
--
-- Import. import_credential re-creates one exported credential: a new Vault
-- secret (vault.create_secret, then vault.update_secret for the value, so
-- that the plaintext never reaches a table or the WAL; a new id, since Vault
-- chooses it) with the value, Vault name and description, and a bookkeeping
-- row with the
-- namespace, name, version, expiry and the exported created_at/updated_at
-- (vault.secrets' own timestamps are the import's: postgres may not change
-- them). It records the pair (source id, new id) in credential_imports, the
-- idempotence key: importing a credential again returns the id it got the
-- first time and changes nothing, unless that credential has been deleted
-- since, in which case it is created again. The whole import of a bundle is
-- meant to run in one transaction (the client does so), so that it commits
-- all or nothing. A credential whose name is taken in the namespace (or, in
-- the default namespace, by a Vault secret without bookkeeping), or whose
-- Vault name is taken in Vault, is a conflict: 23505, or with
-- p_report_conflicts the outcome 'conflict' and nothing done, for dry runs
-- (which roll back).
--
-- Remapping. remap_credential_references rewrites a uuid or text column of
-- one of the owner's tables from source ids to new ids, through
-- credential_imports, in the caller's transaction.
--
-- Not carried: the previous value kept for rollback, the access log and the
-- last retrieval. They stay with the source database.
--
-- SQLSTATEs raised here (matched by the Go client):
--   22000  a credential's value cannot be decrypted (another root key)
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (limits, empty name, version < 1,
--          infinite timestamps, a table or column that cannot be remapped)
--   23505  import: the name is taken in the namespace, or the Vault name in Vault

CREATE TABLE @schema@.credential_imports (
    source_id   uuid        PRIMARY KEY,
    id          uuid        NOT NULL,
    export_id   uuid        NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX credential_imports_export_id_idx ON @schema@.credential_imports (export_id, source_id);

REVOKE ALL ON TABLE @schema@.credential_imports FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON TABLE @schema@.credential_imports IS
    'Credentials imported from another database: source_id is the credential''s id there, id the one it got here '
    '(vault.secrets.id, no foreign key), export_id the export (bundle) that last imported it. The idempotence key '
    'of import_credential and the map of remap_credential_references. Only the owner may read it.';

COMMENT ON COLUMN @schema@.vault_access_log.op IS
    'The operation: store, put, retrieve, read, refresh (reads), rotate, rollback, update, delete, export '
    '(a decryption for a transfer), import.';

-------------------------------------------------------------------------------

CREATE FUNCTION @schema@.export_credentials(p_namespaces text[], p_after_id uuid, p_limit integer)
RETURNS TABLE (id uuid, namespace text, name text, vault_name text, description text, version bigint,
               expires_at timestamptz, created_at timestamptz, updated_at timestamptz, secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r       record;
    v_value text;
BEGIN
    IF p_limit IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'export_credentials: p_limit must not be null';
    END IF;
    IF p_limit OPERATOR(pg_catalog.<) 1 OR p_limit OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'export_credentials: p_limit must be between 1 and 1000';
    END IF;
    IF p_namespaces IS NOT NULL
       AND (pg_catalog.cardinality(p_namespaces) OPERATOR(pg_catalog.=) 0
            OR pg_catalog.array_position(p_namespaces, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'export_credentials: p_namespaces must be NULL (every namespace) or a non-empty array without NULL';
    END IF;
    -- Choose the page first, decrypting nothing: the namespace of a row is
    -- checked before its value is read.
    FOR r IN
        SELECT s.id AS sid, s.name AS s_name, s.description AS s_description, s.created_at AS s_created_at,
               s.updated_at AS s_updated_at, c.namespace AS c_namespace, c.name AS c_name,
               c.description AS c_description, c.version AS c_version, c.expires_at AS c_expires_at,
               c.created_at AS c_created_at, c.updated_at AS c_updated_at
          FROM vault.secrets AS s
          LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) s.id
         -- Not "p_after_id IS NULL OR ...": a generic plan of that cannot
         -- start the index scan at the cursor, and every page would read
         -- the rows of all the pages before it. No secret has the nil id.
         WHERE s.id OPERATOR(pg_catalog.>) coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid)
           AND (p_namespaces IS NULL
                OR coalesce(c.namespace::text, '') OPERATOR(pg_catalog.=) ANY (p_namespaces))
           AND c.deleted_at IS NULL -- a credential in its recovery window stays behind
         ORDER BY s.id
         LIMIT p_limit
    LOOP
        SELECT d.decrypted_secret INTO v_value FROM vault.decrypted_secrets AS d WHERE d.id OPERATOR(pg_catalog.=) r.sid;
        IF NOT FOUND THEN
            CONTINUE; -- deleted since the page was chosen
        END IF;
        IF v_value IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'export_credentials: a credential cannot be decrypted';
        END IF;
        PERFORM @schema@._credential_audit(r.sid, 'export');
        id := r.sid;
        namespace := coalesce(r.c_namespace::text, '');
        name := coalesce(r.c_name::text, r.s_name, r.sid::text);
        vault_name := r.s_name;
        description := coalesce(r.c_description, r.s_description, '');
        version := coalesce(r.c_version, 1::bigint);
        expires_at := r.c_expires_at;
        created_at := coalesce(r.c_created_at, r.s_created_at);
        updated_at := coalesce(r.c_updated_at, r.s_updated_at);
        secret := v_value;
        RETURN NEXT;
    END LOOP;
END;
$$;

CREATE FUNCTION @schema@.import_credential(
    p_export_id        uuid,
    p_source_id        uuid,
    p_namespace        text,
    p_name             text,
    p_vault_name       text,
    p_description      text,
    p_secret           text,
    p_version          bigint,
    p_expires_at       timestamptz,
    p_created_at       timestamptz,
    p_updated_at       timestamptz,
    p_report_conflicts boolean)
RETURNS TABLE (id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_known uuid;
    v_id    uuid;
BEGIN
    PERFORM @schema@._credential_check_namespace('import_credential', p_namespace);
    IF p_export_id IS NULL OR p_source_id IS NULL OR p_name IS NULL OR p_description IS NULL OR p_secret IS NULL
       OR p_version IS NULL OR p_created_at IS NULL OR p_updated_at IS NULL OR p_report_conflicts IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'import_credential: only p_vault_name and p_expires_at may be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'import_credential: p_name must not be empty';
    END IF;
    -- Names index (with the namespace) into a btree: a row there must stay
    -- well under 2704 bytes. Vault secrets made without the library may have
    -- longer names and values than the library's own limits.
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 2048
       OR pg_catalog.octet_length(p_vault_name) OPERATOR(pg_catalog.>) 2048 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'import_credential: p_name or p_vault_name is longer than 2048 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 1048576
       OR pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 1048576 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'import_credential: p_secret or p_description is longer than 1 MiB';
    END IF;
    IF p_version OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'import_credential: p_version must be at least 1';
    END IF;
    IF NOT pg_catalog.isfinite(p_created_at) OR NOT pg_catalog.isfinite(p_updated_at)
       OR NOT pg_catalog.isfinite(coalesce(p_expires_at, pg_catalog.now())) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'import_credential: timestamps must be finite';
    END IF;

    -- Imported before: the credential it became, unless deleted since.
    SELECT m.id INTO v_known
      FROM @schema@.credential_imports AS m
     WHERE m.source_id OPERATOR(pg_catalog.=) p_source_id
       FOR UPDATE;
    IF FOUND
       AND EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_known)
       AND EXISTS (SELECT FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_known) THEN
        UPDATE @schema@.credential_imports AS m
           SET export_id = p_export_id
         WHERE m.source_id OPERATOR(pg_catalog.=) p_source_id
           AND m.export_id OPERATOR(pg_catalog.<>) p_export_id;
        RETURN QUERY SELECT v_known, 'existing'::text;
        RETURN;
    END IF;

    IF EXISTS (SELECT FROM @schema@.vault_credentials AS c
                WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name)
       OR (p_namespace OPERATOR(pg_catalog.=) ''
           AND EXISTS (SELECT FROM vault.secrets AS s
                        WHERE s.name OPERATOR(pg_catalog.=) p_name
                          AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c
                                           WHERE c.id OPERATOR(pg_catalog.=) s.id)))
       OR (p_vault_name IS NOT NULL
           AND EXISTS (SELECT FROM vault.secrets AS s WHERE s.name OPERATOR(pg_catalog.=) p_vault_name)) THEN
        IF p_report_conflicts THEN
            RETURN QUERY SELECT NULL::uuid, 'conflict'::text;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = 'import_credential: the name is taken in the namespace, or the Vault name in Vault';
    END IF;

    -- vault.create_secret (supabase_vault 0.3) inserts the value in
    -- plaintext and then updates the row to its ciphertext, which leaves the
    -- plaintext in the WAL and in a dead heap tuple. vault.update_secret
    -- writes the ciphertext directly: create with an empty value, then set it.
    v_id := vault.create_secret('', p_vault_name, p_description);
    PERFORM vault.update_secret(v_id, p_secret);
    INSERT INTO @schema@.vault_credentials (id, namespace, name, description, version, expires_at, created_at, updated_at)
    VALUES (v_id, p_namespace, p_name, p_description, p_version, p_expires_at, p_created_at, p_updated_at);
    INSERT INTO @schema@.credential_imports AS m (source_id, id, export_id)
    VALUES (p_source_id, v_id, p_export_id)
    ON CONFLICT (source_id) DO UPDATE
       SET id = excluded.id, export_id = excluded.export_id, imported_at = pg_catalog.now();
    PERFORM @schema@._credential_audit(v_id, 'import');
    RETURN QUERY SELECT v_id, 'created'::text;
END;
$$;

CREATE FUNCTION @schema@.remap_credential_references(p_schema text, p_table text, p_column text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel  oid;
    v_nsp  oid;
    v_type oid;
    v_rows bigint;
    -- credential_imports, as qualified text for the dynamic UPDATE, taken
    -- from its row type so that no schema name is spelled in a literal.
    v_map  pg_catalog.regtype := pg_catalog.pg_typeof(NULL::@schema@.credential_imports);
BEGIN
    IF p_schema IS NULL OR p_table IS NULL OR p_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'remap_credential_references: arguments must not be null';
    END IF;
    SELECT c.oid, c.relnamespace INTO v_rel, v_nsp
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE n.nspname OPERATOR(pg_catalog.=) p_schema
       AND c.relname OPERATOR(pg_catalog.=) p_table
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'remap_credential_references: no such table';
    END IF;
    -- Vault's, the catalogs' and this module's own tables are never
    -- rewritten (this schema may be public, next to the caller's tables).
    IF p_schema OPERATOR(pg_catalog.=) ANY (ARRAY['vault', 'pg_catalog', 'information_schema'])
       OR (v_nsp OPERATOR(pg_catalog.=) (SELECT t.typnamespace FROM pg_catalog.pg_type AS t
                                          WHERE t.oid OPERATOR(pg_catalog.=) v_map::pg_catalog.oid)
           AND p_table OPERATOR(pg_catalog.=) ANY (ARRAY['credential_imports', 'vault_credentials', 'vault_access_log',
                                                         'credvault_migrations'])) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'remap_credential_references: tables of Vault, the catalogs and this module are not remapped';
    END IF;
    SELECT a.atttypid INTO v_type
      FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid OPERATOR(pg_catalog.=) v_rel
       AND a.attname OPERATOR(pg_catalog.=) p_column
       AND a.attnum OPERATOR(pg_catalog.>) 0
       AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'remap_credential_references: no such column';
    END IF;
    IF v_type OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype::pg_catalog.oid THEN
        EXECUTE pg_catalog.format(
            'UPDATE %s AS t SET %I = m.id FROM %s AS m '
            'WHERE t.%I OPERATOR(pg_catalog.=) m.source_id',
            v_rel::pg_catalog.regclass, p_column, v_map, p_column);
    ELSIF v_type OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.text'::pg_catalog.regtype,
                                                   'pg_catalog.varchar'::pg_catalog.regtype]::pg_catalog.oid[]) THEN
        -- Ids kept as text, in the canonical lowercase form.
        EXECUTE pg_catalog.format(
            'UPDATE %s AS t SET %I = m.id::pg_catalog.text FROM %s AS m '
            'WHERE t.%I OPERATOR(pg_catalog.=) m.source_id::pg_catalog.text',
            v_rel::pg_catalog.regclass, p_column, v_map, p_column);
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'remap_credential_references: the column must be of type uuid or text';
    END IF;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END;
$$;

CREATE FUNCTION @schema@.list_credential_imports(p_export_id uuid, p_after_source_id uuid, p_limit integer)
RETURNS TABLE (source_id uuid, id uuid, namespace text, name text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_export_id IS NULL OR p_limit IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'list_credential_imports: p_export_id and p_limit must not be null';
    END IF;
    IF p_limit OPERATOR(pg_catalog.<) 1 OR p_limit OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'list_credential_imports: p_limit must be between 1 and 1000';
    END IF;
    RETURN QUERY
    SELECT m.source_id, m.id, c.namespace::text, c.name::text
      FROM @schema@.credential_imports AS m
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) m.id
     WHERE m.export_id OPERATOR(pg_catalog.=) p_export_id
       AND m.source_id OPERATOR(pg_catalog.>) coalesce(p_after_source_id, '00000000-0000-0000-0000-000000000000'::uuid)
     ORDER BY m.source_id
     LIMIT p_limit;
END;
$$;

-------------------------------------------------------------------------------
-- Privileges and documentation: the owner only.

REVOKE ALL ON FUNCTION @schema@.export_credentials(text[], uuid, integer) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.import_credential(uuid, uuid, text, text, text, text, text, bigint, timestamptz,
    timestamptz, timestamptz, boolean) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.remap_credential_references(text, text, text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.list_credential_imports(uuid, uuid, integer) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.export_credentials(text[], uuid, integer) IS
    'Returns up to p_limit (1 to 1000) credentials of the namespaces p_namespaces (NULL: every namespace; Vault '
    'secrets without bookkeeping are in the default one), in id order after p_after_id, with their metadata, Vault '
    'name and decrypted value, and audits each as export. Chooses the page without decrypting; 22000 when a '
    'value does not decrypt. SECURITY DEFINER, executable by the owner only.';
COMMENT ON FUNCTION @schema@.import_credential(uuid, uuid, text, text, text, text, text, bigint, timestamptz,
    timestamptz, timestamptz, boolean) IS
    'Re-creates an exported credential through vault.create_secret and vault.update_secret (new id; the value '
    'never written in plaintext) with its namespace, name, Vault name, '
    'description, version, expiry and timestamps, records (p_source_id, new id) in credential_imports under '
    'p_export_id and audits it as import; outcome created. Idempotent by p_source_id: a credential imported '
    'before and still present is returned unchanged (outcome existing). A taken name or Vault name raises 23505, '
    'or with p_report_conflicts returns outcome conflict and does nothing. SECURITY DEFINER, owner only.';
COMMENT ON FUNCTION @schema@.remap_credential_references(text, text, text) IS
    'Rewrites the uuid or text column p_column of table p_schema.p_table from source ids to the new ids recorded '
    'in credential_imports and returns the number of rows changed; rows holding other values are left alone. '
    'Run it in the transaction of the import. 22023 for a missing table or column, another type, or a table of '
    'Vault, the catalogs or this module. SECURITY DEFINER, executable by the owner only.';
COMMENT ON FUNCTION @schema@.list_credential_imports(uuid, uuid, integer) IS
    'Lists the (source id, new id, namespace, name) pairs that the export p_export_id last imported, in source id '
    'order after p_after_source_id, up to p_limit (1 to 1000) rows; namespace and name are NULL for a credential '
    'deleted since. SECURITY DEFINER, executable by the owner only.';
