-- Values never written in plaintext, and the common path of every credential
-- function inlined again.
--
-- No plaintext in the WAL. supabase_vault 0.3's vault.create_secret inserts
-- the value as given and then updates the row to its ciphertext, so a new
-- secret's plaintext reaches the WAL (and so replicas, WAL archives and
-- point-in-time backups) and stays in a dead row version of vault.secrets
-- until vacuum. vault.update_secret encrypts before it writes. Here
-- credential_store (and so store_credential) and credential_put create the
-- Vault secret with an empty value and set the value with
-- vault.update_secret, in the same transaction, as import_credential does:
-- only ciphertext is ever written.
--
-- A Vault row deleted outside these functions while a write waits to set
-- its value makes vault.update_secret change nothing, silently: put then
-- creates the credential again (as 0007's version did), and rotate and
-- refresh_finish (0006's versions, repeated at the end of this file with
-- the check added) raise P0002 instead of reporting a value they did not set.
--
-- Inlining. 0007 replaced put, lookup, retrieve, read, update, delete, list,
-- retrieve_credential and delete_credential to ignore credentials in their
-- recovery window, through the helpers of 0004 (the namespace check, the
-- audit row, the write, the last retrieval), each a SECURITY DEFINER call
-- with its own search_path switch and PL/pgSQL frame. Their versions below
-- keep 0007's behaviour (deleted credentials are unknown ids; put raises
-- VA004 for a name in its recovery window) with the common path inlined as
-- in 0006. Signatures, results, SQLSTATEs, locking and audit rows are
-- unchanged; privileges and comments of the replaced functions stay.
--
-- SQLSTATEs raised here (matched by the Go client):
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (empty name, over the size limits)
--   23505  update: the name is taken in the namespace
--   40001  store, put: the name kept changing concurrently; retry
--   P0002  no credential with that id or name in the namespace (also:
--          deleted, or its recovery window has ended)
--   VA004  put, update: the name belongs to a deleted credential in its
--          recovery window

CREATE OR REPLACE FUNCTION @schema@.credential_store(p_namespace text, p_name text, p_secret text, p_description text)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   uuid;
    v_name text := p_name;
    v_try  integer := 0;
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_store: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_namespace is longer than 256 bytes';
    END IF;
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_store: p_name must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_name must not be empty';
    END IF;
    IF p_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_store: p_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_secret is longer than 65536 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_description is longer than 4096 bytes';
    END IF;

    -- Names are labels here: a second credential with the same name in the
    -- namespace gets the name plus a random suffix, so both stay visible.
    -- In the default namespace the Vault secret is named too, as
    -- store_credential always has, so a name Vault already has is taken.
    IF EXISTS (SELECT FROM @schema@.vault_credentials AS c
                WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) v_name)
       OR (p_namespace OPERATOR(pg_catalog.=) ''
           AND EXISTS (SELECT FROM vault.secrets AS s WHERE s.name OPERATOR(pg_catalog.=) v_name)) THEN
        v_name := p_name OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
    END IF;
    -- The Vault secret is created empty; its value is set below by
    -- vault.update_secret, which encrypts before writing.
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        BEGIN
            v_id := vault.create_secret('', v_name, coalesce(p_description, ''));
        EXCEPTION WHEN unique_violation THEN
            -- Created in Vault by a concurrent call since the probe.
            v_name := p_name OPERATOR(pg_catalog.||) ' #'
                OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
            v_id := vault.create_secret('', v_name, coalesce(p_description, ''));
        END;
    ELSE
        v_id := vault.create_secret('', NULL, coalesce(p_description, ''));
    END IF;
    LOOP
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description)
        VALUES (v_id, p_namespace, v_name, coalesce(p_description, ''))
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING;
        EXIT WHEN FOUND;
        -- Taken concurrently (by a put): take a suffixed name instead.
        v_try := v_try OPERATOR(pg_catalog.+) 1;
        IF v_try OPERATOR(pg_catalog.>) 3 THEN
            RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'credential_store: the name kept being taken concurrently; retry';
        END IF;
        v_name := p_name OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
        IF p_namespace OPERATOR(pg_catalog.=) '' THEN
            PERFORM vault.update_secret(v_id, NULL, v_name);
        END IF;
    END LOOP;
    PERFORM vault.update_secret(v_id, p_secret);
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (v_id, 'store');
    RETURN v_id;
END;
$$;

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
    v_id      uuid;
    v_deleted timestamptz;
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_namespace is longer than 256 bytes';
    END IF;
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
        SELECT c.id, c.deleted_at INTO v_id, v_deleted
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
           FOR NO KEY UPDATE;
        IF FOUND AND v_deleted IS NOT NULL THEN
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
                SELECT c.id INTO v_id
                  FROM @schema@.vault_credentials AS c
                 WHERE c.namespace OPERATOR(pg_catalog.=) '' AND c.name OPERATOR(pg_catalog.=) p_name
                   AND c.deleted_at IS NULL
                   FOR NO KEY UPDATE;
            ELSE
                v_id := NULL;
            END IF;
        END IF;
        IF v_id IS NOT NULL THEN
            -- The row is locked, so every writer through these functions
            -- waits before here and the ciphertext read is the current
            -- value's: keep it as the previous value, then set the new one.
            UPDATE @schema@.vault_credentials AS c
               SET version = c.version OPERATOR(pg_catalog.+) 1,
                   updated_at = pg_catalog.now(),
                   description = p_description,
                   previous_secret = s.secret,
                   previous_nonce = s.nonce
              FROM vault.secrets AS s
             WHERE c.id OPERATOR(pg_catalog.=) v_id AND s.id OPERATOR(pg_catalog.=) v_id
            RETURNING c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at,
                      c.created_at, c.updated_at, NULL::timestamptz
                 INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at;
            IF FOUND THEN
                PERFORM vault.update_secret(v_id, p_secret, NULL, p_description);
                -- vault.update_secret raises nothing when the Vault row was
                -- deleted meanwhile (not through these functions): then
                -- nothing was set, and the credential is created again.
                PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
                IF FOUND THEN
                    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (v_id, 'put');
                    RETURN NEXT;
                    RETURN;
                END IF;
            END IF;
            -- The Vault secret was deleted without these functions: forget
            -- it and create the credential again.
            DELETE FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_id;
        END IF;

        -- Created empty, its value set by vault.update_secret once the name
        -- is ours: only ciphertext is written.
        v_id := vault.create_secret('', NULL, p_description);
        INSERT INTO @schema@.vault_credentials AS c (id, namespace, name, description)
        VALUES (v_id, p_namespace, p_name, p_description)
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING
        RETURNING c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at,
                  c.created_at, c.updated_at, NULL::timestamptz
             INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at;
        IF FOUND THEN
            PERFORM vault.update_secret(v_id, p_secret);
            INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (v_id, 'put');
            RETURN NEXT;
            RETURN;
        END IF;
        -- A concurrent put created the name first (and has committed, or the
        -- insert would still wait): drop the secret just made and update
        -- that credential instead.
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_lookup: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_lookup: p_namespace is longer than 256 bytes';
    END IF;
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_lookup: p_name must not be null';
    END IF;
    -- One probe of the unique index; the last retrieval is List's business.
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           NULL::timestamptz
      INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
       AND c.deleted_at IS NULL;
    IF FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        -- A Vault secret created without these functions, by its Vault name.
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_retrieve: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve: p_secret_id must not be null';
    END IF;
    -- The namespace is checked before anything is decrypted. A Vault secret
    -- without bookkeeping belongs to the default namespace.
    SELECT d.decrypted_secret INTO v_secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL; -- a credential in its recovery window is missing
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_retrieve: credential not found';
    END IF;
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'retrieve');
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_read: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_read: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_read: p_secret_id must not be null';
    END IF;
    SELECT d.id, coalesce(c.namespace::text, ''),
           coalesce(c.name::text, d.name, d.id::text), coalesce(c.description, d.description),
           coalesce(c.version, 1::bigint), c.expires_at,
           coalesce(c.created_at, d.created_at), coalesce(c.updated_at, d.updated_at),
           NULL::timestamptz, d.decrypted_secret
      INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at, secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL; -- a credential in its recovery window is missing
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_read: credential not found';
    END IF;
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'read');
    RETURN NEXT;
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_update: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_namespace is longer than 256 bytes';
    END IF;
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
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'update');
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_delete: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_delete: p_namespace is longer than 256 bytes';
    END IF;
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
        INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'delete');
        RETURN;
    END IF;
    -- Unknown here: a Vault secret without bookkeeping belongs to the default
    -- namespace. Another namespace's credential is left alone, as an unknown
    -- id would be.
    IF p_namespace OPERATOR(pg_catalog.=) ''
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'delete');
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
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_list: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_list: p_namespace is longer than 256 bytes';
    END IF;
    IF p_expires_before IS NOT NULL THEN
        -- Soonest expiry first, through the partial expiry index. The cursor
        -- is the last row's (expires_at, id).
        RETURN QUERY
        SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
               (SELECT l.accessed_at
                 FROM @schema@.vault_access_log AS l
                WHERE l.secret_id OPERATOR(pg_catalog.=) c.id
                  AND l.op OPERATOR(pg_catalog.=) ANY (ARRAY['retrieve', 'read', 'refresh'])
                ORDER BY l.accessed_at DESC
                LIMIT 1)
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
           (SELECT l.accessed_at
                 FROM @schema@.vault_access_log AS l
                WHERE l.secret_id OPERATOR(pg_catalog.=) c.id
                  AND l.op OPERATOR(pg_catalog.=) ANY (ARRAY['retrieve', 'read', 'refresh'])
                ORDER BY l.accessed_at DESC
                LIMIT 1)
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
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'retrieve');
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
        INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'delete');
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_rotate(p_namespace text, p_secret_id uuid, p_new_secret text, p_if_version bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_version bigint;
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rotate: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_rotate: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rotate: p_secret_id must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rotate: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_rotate: p_new_secret is longer than 65536 bytes';
    END IF;
    -- Lock the bookkeeping row (waiting for a write or refresh in progress);
    -- a credential not recorded yet takes the general path.
    SELECT c.version INTO v_version
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL -- the column comes with the recovery migration
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        v_version := (@schema@._credential_lock(p_namespace, p_secret_id)).version;
    END IF;
    IF p_if_version IS NOT NULL AND v_version OPERATOR(pg_catalog.<>) p_if_version THEN
        RAISE EXCEPTION USING ERRCODE = 'VA003', MESSAGE = 'credential_rotate: the credential is at another version than expected';
    END IF;
    -- This statement sees what committed before the lock was granted: the
    -- ciphertext it keeps as the previous value is the current one.
    UPDATE @schema@.vault_credentials AS c
       SET version = c.version OPERATOR(pg_catalog.+) 1,
           updated_at = pg_catalog.now(),
           previous_secret = s.secret,
           previous_nonce = s.nonce
      FROM vault.secrets AS s
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND s.id OPERATOR(pg_catalog.=) p_secret_id
    RETURNING c.version INTO v_version;
    IF NOT FOUND THEN
        -- The Vault secret was deleted without these functions.
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_rotate: credential not found';
    END IF;
    PERFORM vault.update_secret(p_secret_id, p_new_secret);
    -- vault.update_secret raises nothing when the Vault row was deleted
    -- meanwhile (not through these functions): then nothing was set.
    PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_rotate: credential not found';
    END IF;
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'rotate');
    RETURN v_version;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.credential_refresh_finish(p_namespace text, p_secret_id uuid, p_version bigint, p_new_secret text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_version bigint;
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_refresh_finish: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_secret_id must not be null';
    END IF;
    IF p_version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_version must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_refresh_finish: p_new_secret is longer than 65536 bytes';
    END IF;
    SELECT c.version INTO v_version
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL -- the column comes with the recovery migration
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        v_version := (@schema@._credential_lock(p_namespace, p_secret_id)).version;
    END IF;
    IF v_version OPERATOR(pg_catalog.<>) p_version THEN
        RAISE EXCEPTION USING ERRCODE = 'VA003', MESSAGE = 'credential_refresh_finish: the credential is at another version than expected';
    END IF;
    UPDATE @schema@.vault_credentials AS c
       SET version = c.version OPERATOR(pg_catalog.+) 1,
           updated_at = pg_catalog.now(),
           previous_secret = s.secret,
           previous_nonce = s.nonce
      FROM vault.secrets AS s
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND s.id OPERATOR(pg_catalog.=) p_secret_id
    RETURNING c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at,
              c.created_at, c.updated_at, NULL::timestamptz
         INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_finish: credential not found';
    END IF;
    PERFORM vault.update_secret(p_secret_id, p_new_secret);
    -- vault.update_secret raises nothing when the Vault row was deleted
    -- meanwhile (not through these functions): then nothing was set.
    PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_finish: credential not found';
    END IF;
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'refresh');
    RETURN NEXT;
END;
$$;
