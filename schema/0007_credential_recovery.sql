-- Operations: a recovery window for deletes, orphan detection and a bounded
-- access log.
--
-- Recovery window. credential_delete_recoverable marks a credential deleted
-- (deleted_at) and due for removal (purge_after) instead of deleting it: its
-- Vault row and its value stay, but every other function treats it exactly
-- as an unknown id until credential_restore brings it back (value, id and
-- version unchanged) or credential_purge removes it, with its Vault row,
-- once purge_after has passed. A deleted credential keeps its name: put of
-- that name raises VA004 rather than creating a second credential that the
-- restore would collide with (as AWS Secrets Manager refuses to create a
-- secret whose name is scheduled for deletion). The original functions and
-- the lifecycle functions of 0004 are replaced here, with their signatures
-- unchanged, so that they all ignore deleted credentials:
-- _credential_lock (and with it rotate, rollback, refresh, update and
-- rotate_credential), credential_put, credential_lookup, credential_retrieve,
-- credential_read, credential_update, credential_delete, credential_list,
-- retrieve_credential, delete_credential and list_credentials. A delete
-- without a window (credential_delete, delete_credential) still removes the
-- Vault row at once; of a credential already deleted into its window it does
-- nothing, as of an unknown id. credential_destroy removes a credential now,
-- deleted or not.
--
-- Orphans. A credential stored but never referenced by the caller's table
-- (a crash between the two) is found by credential_orphans, which checks the
-- uuid columns it is given, as the owner, and only credentials older than a
-- grace period. Credentials this library did not create (recorded from
-- Vault by adoption, including every credential recorded before this
-- migration, whose origin is unknown) are left out unless asked for: Vault
-- also holds secrets of other tools (Supabase Wrappers keep API keys there).
--
-- Access log retention. prune_access_log deletes one batch of old rows,
-- walking the identity key, so that a caller can delete millions of rows in
-- short transactions while retrievals keep appending.
--
-- SQLSTATEs raised here (matched by the Go client):
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (a window out of range, an
--          unknown table or column, a column that is not uuid)
--   42501  the owner may not read a referencing column
--   P0002  no such credential in the namespace (also: deleted, or its
--          recovery window has ended)
--   VA004  put, update: the name belongs to a deleted credential in its
--          recovery window

ALTER TABLE @schema@.vault_credentials
    ADD COLUMN deleted_at  timestamptz,
    ADD COLUMN purge_after timestamptz,
    -- Every row recorded before this migration counts as adopted (its origin
    -- is unknown); rows inserted afterwards take the default set below.
    ADD COLUMN adopted     boolean NOT NULL DEFAULT true,
    ADD CONSTRAINT vault_credentials_deleted_check CHECK ((deleted_at IS NULL) OPERATOR(pg_catalog.=) (purge_after IS NULL));
ALTER TABLE @schema@.vault_credentials ALTER COLUMN adopted SET DEFAULT false;

-- Deleted credentials are few: small partial indexes list them by name and
-- find those due for purging.
CREATE INDEX vault_credentials_deleted_name_idx
    ON @schema@.vault_credentials (namespace, name) WHERE deleted_at IS NOT NULL;
CREATE INDEX vault_credentials_purge_after_idx
    ON @schema@.vault_credentials (purge_after, id) WHERE deleted_at IS NOT NULL;

COMMENT ON COLUMN @schema@.vault_credentials.deleted_at IS
    'When the credential was deleted into its recovery window; NULL while it is live. A deleted credential is '
    'an unknown id to every function but credential_restore, credential_purge, credential_destroy and '
    'credential_list_deleted.';
COMMENT ON COLUMN @schema@.vault_credentials.purge_after IS
    'End of the recovery window: credential_restore works before it, credential_purge removes the credential '
    'and its Vault row after it. NULL exactly when deleted_at is.';
COMMENT ON COLUMN @schema@.vault_credentials.adopted IS
    'True when the row was recorded from an existing Vault secret rather than created by credential_store or '
    'credential_put (and for every row recorded before the credential_recovery migration): credential_orphans leaves such rows '
    'out unless asked.';
COMMENT ON COLUMN @schema@.vault_access_log.op IS
    'The operation: store, put, retrieve, read, refresh (reads), rotate, rollback, update, delete, restore, purge. '
    'A delete into a recovery window is a delete; its end is a restore or a purge.';

-------------------------------------------------------------------------------
-- Internal helpers, replaced: same signatures, owner only.

-- As in 0004, and the row records that it was adopted.
CREATE OR REPLACE FUNCTION @schema@._credential_adopt(p_secret_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name        text;
    v_description text;
    v_created_at  timestamptz;
    v_updated_at  timestamptz;
    v_candidate   text;
BEGIN
    SELECT s.name, s.description, s.created_at, s.updated_at
      INTO v_name, v_description, v_created_at, v_updated_at
      FROM vault.secrets AS s
     WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOREACH v_candidate IN ARRAY ARRAY[
        v_name,
        p_secret_id::text,
        p_secret_id::text OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12)]
    LOOP
        CONTINUE WHEN v_candidate IS NULL;
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description, created_at, updated_at, adopted)
        VALUES (p_secret_id, '', v_candidate, coalesce(v_description, ''), v_created_at, v_updated_at, true)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- Either the name is taken, or the id was recorded concurrently.
        PERFORM FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            RETURN true;
        END IF;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'could not record an existing Vault secret; retry';
END;
$$;

-- As in 0004, but a deleted credential is not found (and never adopted
-- again: its bookkeeping row exists). Every function that writes a
-- credential locks it through here.
CREATE OR REPLACE FUNCTION @schema@._credential_lock(p_namespace text, p_secret_id uuid)
RETURNS @schema@.vault_credentials
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    SELECT c.* INTO r
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
       AND (p_namespace IS NULL OR c.namespace OPERATOR(pg_catalog.=) p_namespace)
       AND c.deleted_at IS NULL
       FOR NO KEY UPDATE;
    IF FOUND THEN
        RETURN r;
    END IF;
    IF (p_namespace IS NULL OR p_namespace OPERATOR(pg_catalog.=) '')
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id)
       AND @schema@._credential_adopt(p_secret_id) THEN
        SELECT c.* INTO r
          FROM @schema@.vault_credentials AS c
         WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
           AND c.namespace OPERATOR(pg_catalog.=) ''
           AND c.deleted_at IS NULL
           FOR NO KEY UPDATE;
        IF FOUND THEN
            RETURN r;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential not found';
END;
$$;

-------------------------------------------------------------------------------
-- The lifecycle functions of 0004 that do not lock through _credential_lock,
-- replaced to ignore deleted credentials. Same signatures.

CREATE OR REPLACE FUNCTION @schema@.credential_put(p_namespace text, p_name text, p_secret text, p_description text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r    @schema@.vault_credentials;
    v_id uuid;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_put', p_namespace);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_name must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_name must not be empty';
    END IF;
    IF p_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_secret must not be null';
    END IF;
    IF p_description IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_description must not be null';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_secret is longer than 65536 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_description is longer than 4096 bytes';
    END IF;

    FOR v_try IN 1..3 LOOP
        SELECT c.* INTO r
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
           FOR NO KEY UPDATE;
        IF FOUND AND r.deleted_at IS NOT NULL THEN
            -- Neither updated (it is deleted) nor created again beside it
            -- (its restore would find the name taken).
            RAISE EXCEPTION USING ERRCODE = 'VA004',
                MESSAGE = 'credential_put: the name belongs to a deleted credential in its recovery window; restore it, or wait for its purge';
        END IF;
        IF NOT FOUND AND p_namespace OPERATOR(pg_catalog.=) '' THEN
            -- A Vault secret of that name created without these functions
            -- belongs to the default namespace: update it rather than
            -- creating a second credential.
            SELECT s.id INTO v_id FROM vault.secrets AS s WHERE s.name OPERATOR(pg_catalog.=) p_name;
            IF FOUND
               AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_id)
               AND @schema@._credential_adopt(v_id) THEN
                SELECT c.* INTO r
                  FROM @schema@.vault_credentials AS c
                 WHERE c.namespace OPERATOR(pg_catalog.=) '' AND c.name OPERATOR(pg_catalog.=) p_name
                   AND c.deleted_at IS NULL
                   FOR NO KEY UPDATE;
            END IF;
        END IF;
        IF r.id IS NOT NULL THEN
            SELECT w.* INTO r FROM @schema@._credential_write(r.id, p_secret, p_description, 'put') AS w;
            IF r.id IS NOT NULL THEN
                RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                                    r.created_at, r.updated_at, NULL::timestamptz;
                RETURN;
            END IF;
            -- The Vault secret was deleted without these functions: forget
            -- it and create the credential again.
            DELETE FROM @schema@.vault_credentials AS c
             WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name;
        END IF;

        v_id := vault.create_secret(p_secret, NULL, p_description);
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description)
        VALUES (v_id, p_namespace, p_name, p_description)
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING
        RETURNING * INTO r;
        IF FOUND THEN
            PERFORM @schema@._credential_audit(v_id, 'put');
            RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                                r.created_at, r.updated_at, NULL::timestamptz;
            RETURN;
        END IF;
        -- A concurrent put created the name first (and has committed, or the
        -- insert would still wait): drop the secret just made and update
        -- that credential instead.
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
        r := NULL;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'credential_put: the name kept changing concurrently; retry';
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_lookup(p_namespace text, p_name text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_lookup', p_namespace);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_lookup: p_name must not be null';
    END IF;
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           NULL::timestamptz
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
       AND c.deleted_at IS NULL;
    IF FOUND THEN
        RETURN;
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        -- A Vault secret created without these functions, by its Vault name
        -- (a deleted credential has a bookkeeping row, so never this one).
        RETURN QUERY
        SELECT s.id, ''::text, s.name, s.description, 1::bigint, NULL::timestamptz, s.created_at, s.updated_at,
               NULL::timestamptz
          FROM vault.secrets AS s
         WHERE s.name OPERATOR(pg_catalog.=) p_name
           AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) s.id);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_lookup: credential not found';
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_retrieve(p_namespace text, p_secret_id uuid)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret text;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_retrieve', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve: p_secret_id must not be null';
    END IF;
    -- The namespace (and deletion) is checked before anything is decrypted.
    -- A Vault secret without bookkeeping belongs to the default namespace.
    SELECT d.decrypted_secret INTO v_secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_retrieve: credential not found';
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'retrieve');
    RETURN v_secret;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_read(p_namespace text, p_secret_id uuid)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz, secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_read', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_read: p_secret_id must not be null';
    END IF;
    RETURN QUERY
    SELECT d.id, coalesce(c.namespace::text, ''),
           coalesce(c.name::text, d.name, d.id::text), coalesce(c.description, d.description),
           coalesce(c.version, 1::bigint), c.expires_at,
           coalesce(c.created_at, d.created_at), coalesce(c.updated_at, d.updated_at),
           NULL::timestamptz, d.decrypted_secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_read: credential not found';
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'read');
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_update(p_namespace text, p_secret_id uuid, p_name text, p_description text,
                                                      p_expires_at timestamptz)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r         @schema@.vault_credentials;
    v_deleted timestamptz;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_update', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_update: p_secret_id must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_name must not be empty';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_description is longer than 4096 bytes';
    END IF;
    IF p_expires_at OPERATOR(pg_catalog.=) '-infinity'::timestamptz THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_expires_at must be a time, or infinity for none';
    END IF;
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    IF p_name IS NOT NULL AND p_name OPERATOR(pg_catalog.<>) r.name::text THEN
        SELECT c.deleted_at INTO v_deleted
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name;
        IF FOUND AND v_deleted IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'VA004',
                MESSAGE = 'credential_update: the name belongs to a deleted credential in its recovery window';
        ELSIF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'credential_update: the name is taken in the namespace';
        END IF;
    END IF;
    IF p_description IS NOT NULL AND p_description OPERATOR(pg_catalog.<>) r.description THEN
        -- Keep the description the Supabase dashboard shows in step.
        PERFORM vault.update_secret(p_secret_id, NULL, NULL, p_description);
    END IF;
    UPDATE @schema@.vault_credentials AS c
       SET name = coalesce(p_name, c.name),
           description = coalesce(p_description, c.description),
           expires_at = CASE WHEN p_expires_at IS NULL THEN c.expires_at
                             WHEN p_expires_at OPERATOR(pg_catalog.=) 'infinity'::timestamptz THEN NULL
                             ELSE p_expires_at END
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
    RETURNING c.* INTO r;
    PERFORM @schema@._credential_audit(p_secret_id, 'update');
    RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                        r.created_at, r.updated_at, NULL::timestamptz;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_delete(p_namespace text, p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_delete', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_delete: p_secret_id must not be null';
    END IF;
    -- The bookkeeping row first: this waits for a write or refresh in
    -- progress. A credential deleted into its recovery window is left alone,
    -- as an unknown id would be (credential_destroy removes it).
    DELETE FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL;
    IF FOUND THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        PERFORM @schema@._credential_audit(p_secret_id, 'delete');
        RETURN;
    END IF;
    -- Unknown here: a Vault secret without bookkeeping belongs to the default
    -- namespace. Another namespace's credential is left alone, as an unknown
    -- id would be.
    IF p_namespace OPERATOR(pg_catalog.=) ''
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            PERFORM @schema@._credential_audit(p_secret_id, 'delete');
        END IF;
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_list(
    p_namespace        text,
    p_name_prefix      text,
    p_updated_before   timestamptz,
    p_expires_before   timestamptz,
    p_after_name       text,
    p_after_expires_at timestamptz,
    p_after_id         uuid,
    p_limit            integer)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 100), 1), 1000);
    v_upper text;
    v_tail  text;
    v_code  integer;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_list', p_namespace);
    IF p_expires_before IS NOT NULL THEN
        -- Soonest expiry first, through the partial expiry index. The cursor
        -- is the last row's (expires_at, id).
        RETURN QUERY
        SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
               @schema@._credential_last_retrieved_at(c.id)
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace
           AND c.expires_at IS NOT NULL
           AND c.expires_at OPERATOR(pg_catalog.<) p_expires_before
           AND (p_after_id IS NULL
                OR ROW(c.expires_at, c.id) OPERATOR(pg_catalog.>) ROW(p_after_expires_at, p_after_id))
           AND (p_name_prefix IS NULL OR pg_catalog.starts_with(c.name, p_name_prefix))
           AND (p_updated_before IS NULL OR c.updated_at OPERATOR(pg_catalog.<) p_updated_before)
           AND c.deleted_at IS NULL
         ORDER BY c.expires_at, c.id
         LIMIT v_limit;
        RETURN;
    END IF;

    -- Name order (bytewise, C collation), through the unique (namespace, name)
    -- index; a name prefix is a range of it. The cursor is the last row's name.
    IF p_name_prefix IS NOT NULL THEN
        -- The smallest string above every string that starts with the prefix.
        v_tail := p_name_prefix;
        WHILE v_tail OPERATOR(pg_catalog.<>) '' LOOP
            v_code := pg_catalog.ascii(pg_catalog.right(v_tail, 1));
            v_tail := pg_catalog.left(v_tail, -1);
            IF v_code OPERATOR(pg_catalog.<) 1114111 THEN
                v_code := v_code OPERATOR(pg_catalog.+) 1;
                IF v_code OPERATOR(pg_catalog.=) 55296 THEN -- skip the UTF-16 surrogates
                    v_code := 57344;
                END IF;
                v_upper := v_tail OPERATOR(pg_catalog.||) pg_catalog.chr(v_code);
                EXIT;
            END IF;
        END LOOP;
    END IF;
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           @schema@._credential_last_retrieved_at(c.id)
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND (p_after_name IS NULL OR c.name OPERATOR(pg_catalog.>) p_after_name)
       AND (p_name_prefix IS NULL OR c.name OPERATOR(pg_catalog.>=) p_name_prefix)
       AND (v_upper IS NULL OR c.name OPERATOR(pg_catalog.<) v_upper)
       AND (p_updated_before IS NULL OR c.updated_at OPERATOR(pg_catalog.<) p_updated_before)
       AND c.deleted_at IS NULL
     ORDER BY c.name
     LIMIT v_limit;
END;
$$;

-------------------------------------------------------------------------------
-- The original functions, replaced to ignore deleted credentials. Same
-- signatures; they still act on any namespace. store_credential and
-- rotate_credential need no change (rotate_credential locks through
-- _credential_lock).

CREATE OR REPLACE FUNCTION @schema@.retrieve_credential(p_secret_id uuid)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret text;
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'retrieve_credential: p_secret_id must not be null';
    END IF;
    SELECT d.decrypted_secret INTO v_secret
      FROM vault.decrypted_secrets AS d
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c
                        WHERE c.id OPERATOR(pg_catalog.=) d.id AND c.deleted_at IS NOT NULL);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'retrieve_credential: credential not found';
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'retrieve');
    RETURN v_secret;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.delete_credential(p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_known boolean;
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'delete_credential: p_secret_id must not be null';
    END IF;
    DELETE FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.deleted_at IS NULL;
    v_known := FOUND;
    IF NOT v_known
       AND EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        RETURN; -- deleted into its recovery window: as for an unknown id
    END IF;
    DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF v_known OR FOUND THEN
        PERFORM @schema@._credential_audit(p_secret_id, 'delete');
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.list_credentials(
    p_name_prefix    text        DEFAULT NULL,
    p_updated_before timestamptz DEFAULT NULL,
    p_limit          integer     DEFAULT 100)
RETURNS TABLE (
    id                uuid,
    name              text,
    description       text,
    created_at        timestamptz,
    updated_at        timestamptz,
    last_retrieved_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.name, s.description, s.created_at, s.updated_at, @schema@._credential_last_retrieved_at(s.id)
      FROM vault.secrets AS s
     WHERE (p_name_prefix IS NULL OR pg_catalog.starts_with(s.name, p_name_prefix))
       AND (p_updated_before IS NULL OR s.updated_at OPERATOR(pg_catalog.<) p_updated_before)
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c
                        WHERE c.id OPERATOR(pg_catalog.=) s.id AND c.deleted_at IS NOT NULL)
     ORDER BY s.updated_at, s.id
     LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;

-------------------------------------------------------------------------------
-- The recovery window.

CREATE FUNCTION @schema@.credential_delete_recoverable(p_namespace text, p_secret_id uuid, p_recovery_window interval)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_delete_recoverable', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_delete_recoverable: p_secret_id must not be null';
    END IF;
    IF p_recovery_window IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_delete_recoverable: p_recovery_window must not be null';
    END IF;
    IF p_recovery_window OPERATOR(pg_catalog.<) '1 second'::interval
       OR p_recovery_window OPERATOR(pg_catalog.>) '365 days'::interval THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'credential_delete_recoverable: p_recovery_window must be between 1 second and 365 days';
    END IF;
    -- Waits for a write or refresh in progress; records a Vault secret
    -- unknown to the bookkeeping (default namespace) first. An unknown id,
    -- another namespace's credential or one already deleted: nothing to do.
    BEGIN
        r := @schema@._credential_lock(p_namespace, p_secret_id);
    EXCEPTION WHEN no_data_found THEN
        RETURN;
    END;
    PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        -- The Vault secret was deleted without these functions: nothing is
        -- left to restore, so forget it as credential_delete would.
        DELETE FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
    ELSE
        UPDATE @schema@.vault_credentials AS c
           SET deleted_at = pg_catalog.now(),
               purge_after = pg_catalog.now() OPERATOR(pg_catalog.+) p_recovery_window
         WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'delete');
END;
$$;

CREATE FUNCTION @schema@.credential_destroy(p_namespace text, p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_deleted_at timestamptz;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_destroy', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_destroy: p_secret_id must not be null';
    END IF;
    DELETE FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
    RETURNING c.deleted_at INTO v_deleted_at;
    IF FOUND THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        -- The end of a recovery window is a purge; anything else a delete.
        PERFORM @schema@._credential_audit(p_secret_id, CASE WHEN v_deleted_at IS NULL THEN 'delete' ELSE 'purge' END);
        RETURN;
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) ''
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            PERFORM @schema@._credential_audit(p_secret_id, 'delete');
        END IF;
    END IF;
END;
$$;

CREATE FUNCTION @schema@.credential_restore(p_namespace text, p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_restore', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_restore: p_secret_id must not be null';
    END IF;
    SELECT c.* INTO r
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        -- A live Vault secret without bookkeeping (default namespace) is not
        -- deleted: nothing to restore.
        IF p_namespace OPERATOR(pg_catalog.=) ''
           AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id)
           AND EXISTS (SELECT FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id) THEN
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_restore: credential not found';
    END IF;
    IF r.deleted_at IS NULL THEN
        RETURN; -- live: restoring it again changes nothing
    END IF;
    IF r.purge_after OPERATOR(pg_catalog.<=) pg_catalog.now()
       OR NOT EXISTS (SELECT FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_restore: the recovery window has ended';
    END IF;
    UPDATE @schema@.vault_credentials AS c
       SET deleted_at = NULL, purge_after = NULL
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
    PERFORM @schema@._credential_audit(p_secret_id, 'restore');
END;
$$;

-- One batch of a purge, in (purge_after, id) order after the cursor: one
-- row per credential examined, purged or not. A credential that a foreign
-- key of the caller's still references (vault.secrets' row cannot be
-- deleted) is skipped and stays until the reference is gone.
CREATE FUNCTION @schema@.credential_purge(p_namespace text, p_after_purge_after timestamptz, p_after_id uuid, p_limit integer)
RETURNS TABLE (id uuid, purge_after timestamptz, purged boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit      integer := least(greatest(coalesce(p_limit, 1000), 1), 1000);
    v_referenced boolean;
    v_id         uuid;
    v_due        timestamptz;
BEGIN
    IF p_namespace IS NOT NULL THEN
        PERFORM @schema@._credential_check_namespace('credential_purge', p_namespace);
    END IF;
    -- Per-credential error handling costs a subtransaction each: only when
    -- some table references vault.secrets at all.
    v_referenced := EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
                             WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                               AND k.confrelid OPERATOR(pg_catalog.=) 'vault.secrets'::pg_catalog.regclass);
    FOR v_id, v_due IN
        SELECT c.id, c.purge_after
          FROM @schema@.vault_credentials AS c
         WHERE c.deleted_at IS NOT NULL
           AND c.purge_after OPERATOR(pg_catalog.<=) pg_catalog.now()
           AND (p_namespace IS NULL OR c.namespace OPERATOR(pg_catalog.=) p_namespace)
           AND (p_after_id IS NULL
                OR ROW(c.purge_after, c.id) OPERATOR(pg_catalog.>) ROW(p_after_purge_after, p_after_id))
         ORDER BY c.purge_after, c.id
         LIMIT v_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        IF v_referenced THEN
            BEGIN
                DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
            EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
                RETURN QUERY SELECT v_id, v_due, false;
                CONTINUE;
            END;
        ELSE
            DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
        END IF;
        DELETE FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_id;
        PERFORM @schema@._credential_audit(v_id, 'purge');
        RETURN QUERY SELECT v_id, v_due, true;
    END LOOP;
END;
$$;

CREATE FUNCTION @schema@.credential_list_deleted(p_namespace text, p_name_prefix text, p_after_name text, p_limit integer)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz,
               deleted_at timestamptz, purge_after timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_list_deleted', p_namespace);
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           @schema@._credential_last_retrieved_at(c.id), c.deleted_at, c.purge_after
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NOT NULL
       AND (p_after_name IS NULL OR c.name OPERATOR(pg_catalog.>) p_after_name)
       AND (p_name_prefix IS NULL OR pg_catalog.starts_with(c.name, p_name_prefix))
     ORDER BY c.name
     LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000);
END;
$$;

-------------------------------------------------------------------------------
-- Orphans.

-- Validates the referencing columns (parallel arrays: schema, table,
-- column) and returns the condition that no one of them holds c.id, with
-- every identifier quoted. Each must be an existing column of type uuid of
-- an ordinary or partitioned table, that the owner may read.
CREATE FUNCTION @schema@._credential_orphan_condition(p_schemas text[], p_tables text[], p_columns text[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n      integer;
    v_rel    oid;
    v_kind   "char";
    v_attnum smallint;
    v_type   oid;
    v_sql    text := '';
BEGIN
    IF p_schemas IS NULL OR p_tables IS NULL OR p_columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_orphans: the referencing columns must not be null';
    END IF;
    v_n := coalesce(pg_catalog.cardinality(p_columns), 0);
    IF v_n OPERATOR(pg_catalog.<) 1 OR v_n OPERATOR(pg_catalog.>) 64
       OR pg_catalog.cardinality(p_schemas) OPERATOR(pg_catalog.<>) v_n
       OR pg_catalog.cardinality(p_tables) OPERATOR(pg_catalog.<>) v_n THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_orphans: give 1 to 64 referencing columns, each as schema, table and column';
    END IF;
    FOR i IN 1..v_n LOOP
        IF p_schemas[i] IS NULL OR p_tables[i] IS NULL OR p_columns[i] IS NULL
           OR p_schemas[i] OPERATOR(pg_catalog.=) '' OR p_tables[i] OPERATOR(pg_catalog.=) '' OR p_columns[i] OPERATOR(pg_catalog.=) '' THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_orphans: a referencing column has an empty schema, table or column name';
        END IF;
        SELECT c.oid, c.relkind INTO v_rel, v_kind
          FROM pg_catalog.pg_class AS c
          JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE n.nspname OPERATOR(pg_catalog.=) p_schemas[i]::pg_catalog.name
           AND c.relname OPERATOR(pg_catalog.=) p_tables[i]::pg_catalog.name;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('credential_orphans: no table %I.%I', p_schemas[i], p_tables[i]);
        END IF;
        IF v_kind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::"char"[]) THEN
            -- A view or materialized view may hide or lag behind references.
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('credential_orphans: %I.%I is not a table', p_schemas[i], p_tables[i]);
        END IF;
        SELECT a.attnum, a.atttypid INTO v_attnum, v_type
          FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid OPERATOR(pg_catalog.=) v_rel
           AND a.attname OPERATOR(pg_catalog.=) p_columns[i]::pg_catalog.name
           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('credential_orphans: %I.%I has no column %I', p_schemas[i], p_tables[i], p_columns[i]);
        END IF;
        IF v_type OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('credential_orphans: %I.%I.%I is not of type uuid', p_schemas[i], p_tables[i], p_columns[i]);
        END IF;
        IF NOT pg_catalog.has_column_privilege(v_rel, v_attnum, 'SELECT') THEN
            RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = pg_catalog.format('credential_orphans: the owner may not read %I.%I.%I', p_schemas[i], p_tables[i], p_columns[i]);
        END IF;
        v_sql := v_sql OPERATOR(pg_catalog.||) pg_catalog.format(
            ' AND NOT EXISTS (SELECT FROM %I.%I AS r WHERE r.%I OPERATOR(pg_catalog.=) c.id)',
            p_schemas[i], p_tables[i], p_columns[i]);
    END LOOP;
    RETURN v_sql;
END;
$$;

-- The credentials of the namespace (NULL: every namespace) that no
-- referencing column holds, created before now() - p_grace, live, and
-- created by these functions unless p_include_adopted; in id order after
-- p_after_id. row_security is off, so that a table whose policies would
-- hide rows from the owner raises 42501 instead of making its credentials
-- look unreferenced.
CREATE FUNCTION @schema@.credential_orphans(
    p_namespace        text,
    p_schemas          text[],
    p_tables           text[],
    p_columns          text[],
    p_grace            interval,
    p_include_adopted  boolean,
    p_after_id         uuid,
    p_limit            integer)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET row_security = off
AS $$
DECLARE
    v_cond  text;
    -- The bookkeeping table's name, quoted, from its row type rather than a
    -- literal (the schema's name may hold quotes): search_path does not
    -- include the schema, so regtype's output qualifies it.
    v_table text := pg_catalog.pg_typeof(NULL::@schema@.vault_credentials)::pg_catalog.text;
BEGIN
    IF p_namespace IS NOT NULL THEN
        PERFORM @schema@._credential_check_namespace('credential_orphans', p_namespace);
    END IF;
    IF p_grace IS NULL OR p_grace OPERATOR(pg_catalog.<) '0 seconds'::interval THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_orphans: p_grace must be a duration of at least 0';
    END IF;
    v_cond := @schema@._credential_orphan_condition(p_schemas, p_tables, p_columns);
    RETURN QUERY EXECUTE
        'SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at, '
        '       NULL::timestamptz '
        '  FROM ' OPERATOR(pg_catalog.||) v_table OPERATOR(pg_catalog.||) ' AS c '
        ' WHERE ($1::text IS NULL OR c.namespace OPERATOR(pg_catalog.=) $1::text) '
        '   AND c.deleted_at IS NULL '
        '   AND c.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $2::interval) '
        '   AND ($3::boolean OR NOT c.adopted) '
        '   AND ($4::uuid IS NULL OR c.id OPERATOR(pg_catalog.>) $4::uuid) '
        OPERATOR(pg_catalog.||) v_cond OPERATOR(pg_catalog.||)
        ' ORDER BY c.id LIMIT $5::integer'
        USING p_namespace, p_grace, coalesce(p_include_adopted, false), p_after_id,
              least(greatest(coalesce(p_limit, 100), 1), 1000);
END;
$$;

-- As credential_orphans, and deletes what it returns in the same
-- statement, each as credential_delete does or, with p_recovery_window,
-- into that recovery window. Rows another transaction is writing are
-- skipped.
CREATE FUNCTION @schema@.credential_delete_orphans(
    p_namespace        text,
    p_schemas          text[],
    p_tables           text[],
    p_columns          text[],
    p_grace            interval,
    p_include_adopted  boolean,
    p_after_id         uuid,
    p_limit            integer,
    p_recovery_window  interval)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET row_security = off
AS $$
#variable_conflict use_column
DECLARE
    v_cond  text;
    v_table text := pg_catalog.pg_typeof(NULL::@schema@.vault_credentials)::pg_catalog.text;
    r       record;
BEGIN
    IF p_namespace IS NOT NULL THEN
        PERFORM @schema@._credential_check_namespace('credential_delete_orphans', p_namespace);
    END IF;
    IF p_grace IS NULL OR p_grace OPERATOR(pg_catalog.<) '0 seconds'::interval THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_delete_orphans: p_grace must be a duration of at least 0';
    END IF;
    v_cond := @schema@._credential_orphan_condition(p_schemas, p_tables, p_columns);
    FOR r IN EXECUTE
        'SELECT c.id, c.namespace::text AS namespace, c.name::text AS name, c.description, c.version, c.expires_at, '
        '       c.created_at, c.updated_at '
        '  FROM ' OPERATOR(pg_catalog.||) v_table OPERATOR(pg_catalog.||) ' AS c '
        ' WHERE ($1::text IS NULL OR c.namespace OPERATOR(pg_catalog.=) $1::text) '
        '   AND c.deleted_at IS NULL '
        '   AND c.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $2::interval) '
        '   AND ($3::boolean OR NOT c.adopted) '
        '   AND ($4::uuid IS NULL OR c.id OPERATOR(pg_catalog.>) $4::uuid) '
        OPERATOR(pg_catalog.||) v_cond OPERATOR(pg_catalog.||)
        ' ORDER BY c.id LIMIT $5::integer FOR UPDATE OF c SKIP LOCKED'
        USING p_namespace, p_grace, coalesce(p_include_adopted, false), p_after_id,
              least(greatest(coalesce(p_limit, 100), 1), 1000)
    LOOP
        IF p_recovery_window IS NULL THEN
            PERFORM @schema@.credential_delete(r.namespace, r.id);
        ELSE
            PERFORM @schema@.credential_delete_recoverable(r.namespace, r.id, p_recovery_window);
        END IF;
        RETURN QUERY SELECT r.id, r.namespace, r.name, r.description, r.version, r.expires_at, r.created_at,
                            r.updated_at, NULL::timestamptz;
    END LOOP;
END;
$$;

-------------------------------------------------------------------------------
-- Access log retention.

-- Deletes, from the next p_limit rows after p_after_id in id order, those
-- accessed before p_before, and returns the last id of the batch (NULL when
-- there was none), how many rows it held and how many were deleted. Ids
-- follow time, so a caller walks from 0 and stops at the first batch that
-- deletes nothing; each batch is its own short transaction, which
-- concurrent appends never wait for. Both statements are range scans of
-- the primary key whatever the plan cache decides (a join of the batch
-- back to the table can be planned as a merge join over the whole key);
-- jit is off so that no batch pays for compiling.
CREATE FUNCTION @schema@.prune_access_log(p_before timestamptz, p_after_id bigint, p_limit integer)
RETURNS TABLE (last_id bigint, examined integer, deleted integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_after    bigint := coalesce(p_after_id, 0);
    v_limit    integer := least(greatest(coalesce(p_limit, 10000), 1), 100000);
    v_last     bigint;
    v_examined integer;
    v_deleted  integer;
BEGIN
    IF p_before IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'prune_access_log: p_before must not be null';
    END IF;
    SELECT pg_catalog.max(b.id), pg_catalog.count(*)::integer INTO v_last, v_examined
      FROM (SELECT l.id
              FROM @schema@.vault_access_log AS l
             WHERE l.id OPERATOR(pg_catalog.>) v_after
             ORDER BY l.id
             LIMIT v_limit) AS b;
    IF v_last IS NULL THEN
        RETURN QUERY SELECT NULL::bigint, 0, 0;
        RETURN;
    END IF;
    DELETE FROM @schema@.vault_access_log AS l
     WHERE l.id OPERATOR(pg_catalog.>) v_after
       AND l.id OPERATOR(pg_catalog.<=) v_last
       AND l.accessed_at OPERATOR(pg_catalog.<) p_before;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN QUERY SELECT v_last, v_examined, v_deleted;
END;
$$;

-------------------------------------------------------------------------------
-- Privileges and documentation.

REVOKE ALL ON FUNCTION @schema@._credential_orphan_condition(text[], text[], text[]) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.credential_delete_recoverable(text, uuid, interval) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_destroy(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_restore(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_purge(text, timestamptz, uuid, integer) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_list_deleted(text, text, text, integer) FROM PUBLIC, anon, authenticated;
-- Owner only: they read tables of the caller's choosing with the owner's
-- rights, and prune the owner's log.
REVOKE ALL ON FUNCTION @schema@.credential_orphans(text, text[], text[], text[], interval, boolean, uuid, integer)
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.credential_delete_orphans(text, text[], text[], text[], interval, boolean, uuid, integer, interval)
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.prune_access_log(timestamptz, bigint, integer) FROM PUBLIC, anon, authenticated, service_role;

GRANT EXECUTE ON FUNCTION @schema@.credential_delete_recoverable(text, uuid, interval) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_destroy(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_restore(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_purge(text, timestamptz, uuid, integer) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_list_deleted(text, text, text, integer) TO service_role;

COMMENT ON FUNCTION @schema@._credential_adopt(uuid) IS
    'Internal: records a Vault secret unknown to vault_credentials in the default namespace, under its Vault '
    'name (or its id when unnamed or taken), as adopted; returns whether the Vault secret exists. Owner only.';
COMMENT ON FUNCTION @schema@._credential_lock(text, uuid) IS
    'Internal: locks (FOR NO KEY UPDATE) and returns the live (not deleted) credential''s vault_credentials row in '
    'the namespace (NULL: any), recording an unknown Vault secret in the default namespace; raises P0002 otherwise. '
    'Owner only.';
COMMENT ON FUNCTION @schema@._credential_orphan_condition(text[], text[], text[]) IS
    'Internal: validates referencing columns (existing uuid columns of tables the owner may read; 22023, 42501) '
    'and returns the quoted NOT EXISTS conditions of credential_orphans. Owner only.';

COMMENT ON FUNCTION @schema@.credential_put(text, text, text, text) IS
    'Creates or updates the credential with this exact name in the namespace: at most one per (namespace, name), '
    'also under concurrent calls; an update keeps the id, sets value and description and bumps the version. '
    'Returns its metadata. The Vault secret of a created credential has a NULL name. Audited as put. '
    'SECURITY DEFINER, executable by service_role only. 22004, 22023 for bad input; 40001 when the name kept '
    'changing concurrently; VA004 when the name belongs to a credential deleted into its recovery window.';
COMMENT ON FUNCTION @schema@.credential_lookup(text, text) IS
    'Returns the metadata (never the value) of the live credential with this exact name in the namespace, or '
    'raises P0002; last_retrieved_at is NULL (see credential_list). SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_retrieve(text, uuid) IS
    'Returns the decrypted credential if it belongs to the namespace and is not deleted (otherwise P0002, as for an '
    'unknown id) and audits it as retrieve. SECURITY DEFINER, executable by service_role only. A ciphertext that '
    'does not decrypt raises 22000.';
COMMENT ON FUNCTION @schema@.credential_read(text, uuid) IS
    'Returns the credential''s metadata and decrypted value if it belongs to the namespace and is not deleted '
    '(otherwise P0002) and audits it as read. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_update(text, uuid, text, text, timestamptz) IS
    'Changes the name, description and expiry that are not NULL, never the value or version; p_expires_at '
    '''infinity'' removes the expiry. A name taken in the namespace raises 23505, or VA004 when a deleted '
    'credential holds it; an unknown, deleted or other namespace''s id raises P0002. Audited as update. '
    'SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_delete(text, uuid) IS
    'Deletes the credential from Vault and the bookkeeping if it belongs to the namespace; otherwise, and for a '
    'credential already deleted into its recovery window, does nothing, as for an unknown id (idempotent). '
    'Audited as delete when something was deleted. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_list(text, text, timestamptz, timestamptz, text, timestamptz, uuid, integer) IS
    'Lists the namespace''s live credentials'' metadata, never values, from the bookkeeping only (never '
    'vault.secrets); deleted ones are listed by credential_list_deleted. By name (bytewise), after p_after_name; '
    'with p_expires_before, soonest expiry first, after (p_after_expires_at, p_after_id). Filters: name prefix, '
    'updated (value set) before. 1 to 1000 rows per call. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.retrieve_credential(uuid) IS
    'Returns the decrypted credential and appends one row to vault_access_log. SECURITY DEFINER, executable by '
    'service_role only. Server-side use only (back-end services, Edge Functions during integration runs), never '
    'per end-user API request. Unknown id, or one deleted into its recovery window, raises P0002; a ciphertext '
    'that does not decrypt raises 22000.';
COMMENT ON FUNCTION @schema@.delete_credential(uuid) IS
    'Deletes the credential from Vault and the bookkeeping, in any namespace. Idempotent: an unknown id, or one '
    'already deleted into its recovery window, returns without error. Audited as delete when something was '
    'deleted. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.list_credentials(text, timestamptz, integer) IS
    'Lists Vault secrets'' metadata (id, name, description, created_at, updated_at, last retrieval), oldest '
    'update first, never values, leaving out credentials deleted into a recovery window; reads every Vault '
    'secret, whatever its namespace: prefer credential_list. SECURITY DEFINER, executable by service_role only. '
    'At most 1000 rows per call.';

COMMENT ON FUNCTION @schema@.credential_delete_recoverable(text, uuid, interval) IS
    'Deletes the credential into a recovery window of p_recovery_window (1 second to 365 days): its Vault row '
    'stays, every function but credential_restore, credential_purge, credential_destroy and '
    'credential_list_deleted treats it as an unknown id, and credential_purge removes it once the window has '
    'passed. An unknown id, another namespace''s or an already deleted credential: nothing happens. Audited as '
    'delete. SECURITY DEFINER, executable by service_role only. 22004, 22023 for bad input.';
COMMENT ON FUNCTION @schema@.credential_destroy(text, uuid) IS
    'Deletes the credential from Vault and the bookkeeping now, also one deleted into its recovery window '
    '(audited as purge; a live one as delete). Idempotent, as credential_delete. SECURITY DEFINER, executable by '
    'service_role only.';
COMMENT ON FUNCTION @schema@.credential_restore(text, uuid) IS
    'Brings back a credential of the namespace deleted into its recovery window, with its id, value and version, '
    'while the window lasts; audited as restore. A live credential is left as it is. P0002 for an unknown id, '
    'another namespace''s, or a window that has ended. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_purge(text, timestamptz, uuid, integer) IS
    'Removes, with their Vault rows, up to p_limit (at most 1000) credentials of the namespace (NULL: every '
    'namespace) whose recovery window has passed, in (purge_after, id) order after the cursor; returns one row '
    'per credential examined, with purged false when a foreign key still references its Vault row. Audited as '
    'purge. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_list_deleted(text, text, text, integer) IS
    'Lists the namespace''s credentials deleted into a recovery window and not yet purged, by name after '
    'p_after_name, with deleted_at and purge_after; never values. 1 to 1000 rows per call. SECURITY DEFINER, '
    'executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_orphans(text, text[], text[], text[], interval, boolean, uuid, integer) IS
    'Lists the live credentials of the namespace (NULL: every namespace) that none of the given uuid columns '
    '(schema, table and column, in parallel arrays) references, created more than p_grace ago, by id after '
    'p_after_id; adopted credentials (not created by these functions) only with p_include_adopted. Reads the '
    'columns as the owner with row_security off: a table whose policies would hide rows raises 42501. Bad columns '
    'raise 22023. SECURITY DEFINER, executable by the owner only.';
COMMENT ON FUNCTION @schema@.credential_delete_orphans(text, text[], text[], text[], interval, boolean, uuid, integer, interval) IS
    'As credential_orphans, and deletes each credential it returns in the same statement, as credential_delete '
    'does or, with p_recovery_window, into that recovery window. SECURITY DEFINER, executable by the owner only.';
COMMENT ON FUNCTION @schema@.prune_access_log(timestamptz, bigint, integer) IS
    'Deletes one batch of vault_access_log: of the next p_limit rows (default 10000, at most 100000) after '
    'p_after_id in id order, those accessed before p_before. Returns the batch''s last id, its size and the rows '
    'deleted; call again with last_id until a batch deletes nothing. SECURITY DEFINER, executable by the owner only.';
