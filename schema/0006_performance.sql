-- Performance: the per-call cost of the credential functions, and batch
-- retrieval.
--
-- Measured on supabase_vault 0.3.1 (BENCHMARKS.md), the functions of 0004
-- spent most of their overhead over the same work written by hand not in
-- Vault but in their own plumbing: every call ran three to five nested
-- SECURITY DEFINER helpers (the namespace check, the row lock, the write
-- through a set-returning function scan, the audit row), each with its own
-- search_path switch, PL/pgSQL frame and, for the composite helpers, a
-- tuplestore. The hot functions below do the same work with the common
-- path inlined and keep the helpers for the rare paths (a Vault secret not
-- yet recorded in the bookkeeping, JWT claims set by PostgREST). Their
-- signatures, results, SQLSTATEs, locking and audit rows are those of 0004.
--
-- Audit rows. The caller fields of vault_access_log (session user, role,
-- JWT role and subject, application name, client address) become column
-- defaults, so that every function writes its audit row with one plain
-- INSERT of (secret_id, op) and the fields are defined in one place. A
-- claim is read from request.jwt.claims (PostgREST) by
-- _credential_jwt_claim, called only when that setting is not empty.
--
-- Store. A name taken in the namespace, or in Vault for the default
-- namespace, is now found by an index probe before vault.create_secret
-- instead of by a failed insert and its subtransaction, so that the
-- suffixed path costs the same as the free one; the subtransaction stays
-- only for a default-namespace name that a concurrent call creates in
-- Vault between the probe and the insert.
--
-- Batch retrieval. credential_retrieve_many returns the values of up to
-- 100 credentials of one namespace in one call, all or nothing.
--
-- SQLSTATEs raised here (matched by the Go client):
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (empty name, over the size
--          limits, more than 100 ids)
--   40001  put: the name kept being created and deleted concurrently; retry
--   P0002  no credential with that id or name in the namespace (another
--          namespace's credential is reported exactly like an unknown one);
--          retrieve_many: the message says how many ids were not found
--   VA003  a check-and-set found another version than the expected one

-------------------------------------------------------------------------------
-- Audit rows: the caller fields as column defaults.

-- One claim of the JSON in request.jwt.claims, or of the older per-claim
-- settings request.jwt.claim.<name> when the JSON lacks it or is malformed.
CREATE FUNCTION @schema@._credential_jwt_claim(p_claim text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_claims jsonb;
BEGIN
    BEGIN
        v_claims := pg_catalog.current_setting('request.jwt.claims', true)::jsonb;
    EXCEPTION WHEN others THEN
        v_claims := NULL;
    END;
    RETURN coalesce(v_claims OPERATOR(pg_catalog.->>) p_claim,
                    pg_catalog.current_setting('request.jwt.claim.' OPERATOR(pg_catalog.||) p_claim, true));
END;
$$;

-- Inside SECURITY DEFINER current_user is the owner; the caller's role is
-- the one its session switched to with SET ROLE, or its login role.
ALTER TABLE @schema@.vault_access_log
    ALTER COLUMN session_user_name SET DEFAULT session_user,
    ALTER COLUMN current_user_name SET DEFAULT
        CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.=) 'none' THEN session_user
             ELSE pg_catalog.current_setting('role') END,
    ALTER COLUMN jwt_role SET DEFAULT
        CASE WHEN pg_catalog.current_setting('request.jwt.claims', true) OPERATOR(pg_catalog.<>) ''
             THEN @schema@._credential_jwt_claim('role')
             ELSE pg_catalog.current_setting('request.jwt.claim.role', true) END,
    ALTER COLUMN jwt_sub SET DEFAULT
        CASE WHEN pg_catalog.current_setting('request.jwt.claims', true) OPERATOR(pg_catalog.<>) ''
             THEN @schema@._credential_jwt_claim('sub')
             ELSE pg_catalog.current_setting('request.jwt.claim.sub', true) END,
    ALTER COLUMN application_name SET DEFAULT pg_catalog.current_setting('application_name'),
    ALTER COLUMN client_addr SET DEFAULT pg_catalog.inet_client_addr();

CREATE OR REPLACE FUNCTION @schema@._credential_audit(p_secret_id uuid, p_op text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, p_op);
END;
$$;

-------------------------------------------------------------------------------
-- The hot functions, with their common path inlined.

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
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        BEGIN
            v_id := vault.create_secret(p_secret, v_name, coalesce(p_description, ''));
        EXCEPTION WHEN unique_violation THEN
            -- Created in Vault by a concurrent call since the probe.
            v_name := p_name OPERATOR(pg_catalog.||) ' #'
                OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
            v_id := vault.create_secret(p_secret, v_name, coalesce(p_description, ''));
        END;
    ELSE
        v_id := vault.create_secret(p_secret, NULL, coalesce(p_description, ''));
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
    v_id uuid;
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
        SELECT c.id INTO v_id
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
           FOR NO KEY UPDATE;
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
                INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (v_id, 'put');
                RETURN NEXT;
                RETURN;
            END IF;
            -- The Vault secret was deleted without these functions: forget
            -- it and create the credential again.
            DELETE FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_id;
        END IF;

        v_id := vault.create_secret(p_secret, NULL, p_description);
        INSERT INTO @schema@.vault_credentials AS c (id, namespace, name, description)
        VALUES (v_id, p_namespace, p_name, p_description)
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING
        RETURNING c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at,
                  c.created_at, c.updated_at, NULL::timestamptz
             INTO id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at;
        IF FOUND THEN
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
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name;
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
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'rotate');
    RETURN v_version;
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
    -- The bookkeeping row first: this waits for a write or refresh in progress.
    DELETE FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace;
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

CREATE OR REPLACE FUNCTION @schema@.credential_refresh_begin(p_namespace text, p_secret_id uuid)
RETURNS TABLE (refreshed boolean, id uuid, namespace text, name text, description text, version bigint,
               expires_at timestamptz, created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz,
               secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_seen bigint;
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_begin: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_refresh_begin: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_begin: p_secret_id must not be null';
    END IF;
    -- The version the caller sees before waiting (each statement of this
    -- function reads the latest committed data in READ COMMITTED).
    SELECT c.version INTO v_seen
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace;
    IF NOT FOUND THEN
        -- Not recorded yet, or another namespace's: the general path.
        PERFORM @schema@._credential_lock(p_namespace, p_secret_id);
    END IF;
    -- Waits for a refresh (or any write) of the credential in progress, then
    -- reads the row and the value as they are now.
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at
      INTO id, namespace, name, description, version, expires_at, created_at, updated_at
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL -- the column comes with the recovery migration
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_begin: credential not found';
    END IF;
    SELECT d.decrypted_secret INTO secret FROM vault.decrypted_secrets AS d WHERE d.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_begin: credential not found';
    END IF;
    last_retrieved_at := NULL;
    -- Refreshed (or rotated) while this call waited: its value is the result.
    refreshed := v_seen IS NOT NULL AND version OPERATOR(pg_catalog.<>) v_seen;
    IF refreshed THEN
        INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'refresh');
    END IF;
    RETURN NEXT;
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
    INSERT INTO @schema@.vault_access_log (secret_id, op) VALUES (p_secret_id, 'refresh');
    RETURN NEXT;
END;
$$;

-------------------------------------------------------------------------------
-- Batch retrieval.

CREATE FUNCTION @schema@.credential_retrieve_many(p_namespace text, p_secret_ids uuid[])
RETURNS TABLE (id uuid, secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_ids     uuid[];
    v_values  text[];
    v_missing uuid[];
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve_many: p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_retrieve_many: p_namespace is longer than 256 bytes';
    END IF;
    IF p_secret_ids IS NULL OR pg_catalog.array_position(p_secret_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve_many: p_secret_ids must not be or hold null';
    END IF;
    IF pg_catalog.cardinality(p_secret_ids) OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_retrieve_many: more than 100 ids';
    END IF;
    -- One statement, one snapshot: the namespace is checked before anything
    -- is decrypted (a Vault secret without bookkeeping belongs to the
    -- default namespace), and each credential is read once however often
    -- its id is given.
    SELECT pg_catalog.array_agg(d.id), pg_catalog.array_agg(d.decrypted_secret)
      INTO v_ids, v_values
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) ANY (p_secret_ids)
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL; -- a credential in its recovery window is missing
    IF coalesce(pg_catalog.cardinality(v_ids), 0) OPERATOR(pg_catalog.<>)
       (SELECT pg_catalog.count(DISTINCT w.id) FROM pg_catalog.unnest(p_secret_ids) AS w(id)) THEN
        -- All or nothing: no value leaves this call and nothing is audited.
        SELECT pg_catalog.array_agg(DISTINCT w.id) INTO v_missing
          FROM pg_catalog.unnest(p_secret_ids) AS w(id)
         WHERE NOT w.id OPERATOR(pg_catalog.=) ANY (coalesce(v_ids, '{}'));
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = pg_catalog.format('credential_retrieve_many: %s of %s credentials not found',
                                        pg_catalog.cardinality(v_missing),
                                        pg_catalog.cardinality(v_missing) OPERATOR(pg_catalog.+) coalesce(pg_catalog.cardinality(v_ids), 0)),
            DETAIL = pg_catalog.format('not found: %s', pg_catalog.array_to_string(v_missing, ' '));
    END IF;
    INSERT INTO @schema@.vault_access_log (secret_id, op) SELECT i.id, 'retrieve' FROM pg_catalog.unnest(v_ids) AS i(id);
    RETURN QUERY SELECT r.id, r.secret FROM ROWS FROM (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_values)) AS r(id, secret);
END;
$$;

REVOKE ALL ON FUNCTION @schema@._credential_jwt_claim(text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@.credential_retrieve_many(text, uuid[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION @schema@.credential_retrieve_many(text, uuid[]) TO service_role;

COMMENT ON FUNCTION @schema@._credential_jwt_claim(text) IS
    'Internal: one claim of request.jwt.claims (PostgREST), or of request.jwt.claim.<name> when the JSON lacks it or '
    'is malformed; the default of vault_access_log.jwt_role and jwt_sub when the claims are set. Owner only.';
COMMENT ON FUNCTION @schema@._credential_audit(uuid, text) IS
    'Internal: appends one vault_access_log row for an operation; the caller''s session user, role, JWT claims, '
    'application name and address are the columns'' defaults. Owner only.';
COMMENT ON FUNCTION @schema@.credential_retrieve_many(text, uuid[]) IS
    'Returns (id, decrypted value) of every credential of p_secret_ids (at most 100; duplicates count once) if all '
    'belong to the namespace, and audits each as retrieve. All or nothing: when any id is unknown or another '
    'namespace''s, raises P0002 saying how many (and, in its detail, which), and returns and audits nothing. SECURITY DEFINER, executable by '
    'service_role only. A ciphertext that does not decrypt raises 22000.';
