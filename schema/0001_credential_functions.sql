-- 0001: the credential API over Supabase Vault.
--
-- Four SECURITY DEFINER functions (store, retrieve, rotate, delete) that only
-- service_role may execute, and the append-only access log that retrieve
-- writes to. Vault itself is always reached in schema vault through its public
-- surface (vault.create_secret, vault.update_secret, vault.decrypted_secrets,
-- DELETE on vault.secrets); nothing here inserts into vault.secrets or locks its
-- rows, which the migration role cannot do on Supabase.
--
-- SQLSTATEs raised here (documented in the README and matched by the Go client):
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (empty name, over the size limits)
--   P0002  no credential with that id

CREATE TABLE @schema@.vault_access_log (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_id         uuid        NOT NULL,
    accessed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    session_user_name text        NOT NULL,
    current_user_name text        NOT NULL,
    jwt_role          text,
    jwt_sub           text,
    application_name  text,
    client_addr       inet
);

CREATE INDEX vault_access_log_secret_id_accessed_at_idx
    ON @schema@.vault_access_log (secret_id, accessed_at DESC);

REVOKE ALL ON TABLE @schema@.vault_access_log FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON SEQUENCE @schema@.vault_access_log_id_seq FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON TABLE @schema@.vault_access_log IS
    'Append-only record of every successful retrieve_credential call. Only the owner may read or prune it; '
    'no other role has any privilege on it. Failed and denied calls roll back with their transaction and are '
    'recorded by the Go client''s logger instead.';

CREATE FUNCTION @schema@.store_credential(p_name text, p_secret text, p_description text DEFAULT '')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'store_credential: p_name must not be null';
    END IF;
    IF p_name = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'store_credential: p_name must not be empty';
    END IF;
    IF p_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'store_credential: p_secret must not be null';
    END IF;
    -- The same limits as the Go client, for callers that come through PostgREST.
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'store_credential: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'store_credential: p_secret is longer than 65536 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'store_credential: p_description is longer than 4096 bytes';
    END IF;

    -- Vault keeps names unique. Names here are labels for humans, not keys:
    -- a second credential with the same name is stored under the name plus a
    -- random suffix, so both stay visible in the Supabase dashboard.
    BEGIN
        v_id := vault.create_secret(p_secret, p_name, coalesce(p_description, ''));
    EXCEPTION WHEN unique_violation THEN
        v_id := vault.create_secret(
            p_secret,
            p_name || ' #' || pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12),
            coalesce(p_description, ''));
    END;
    RETURN v_id;
END;
$$;

CREATE FUNCTION @schema@.retrieve_credential(p_secret_id uuid)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret text;
    v_claims jsonb;
    v_raw    text;
    v_role   text;
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'retrieve_credential: p_secret_id must not be null';
    END IF;

    SELECT d.decrypted_secret INTO v_secret
      FROM vault.decrypted_secrets AS d
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'retrieve_credential: credential not found';
    END IF;

    -- PostgREST (Edge Functions, supabase-js rpc) sets request.jwt.claims.
    v_raw := pg_catalog.current_setting('request.jwt.claims', true);
    IF v_raw IS NOT NULL AND v_raw OPERATOR(pg_catalog.<>) '' THEN
        BEGIN
            v_claims := v_raw::jsonb;
        EXCEPTION WHEN others THEN
            v_claims := NULL;
        END;
    END IF;

    -- Inside SECURITY DEFINER current_user is the owner; the caller's role is
    -- the one its session switched to with SET ROLE, or its login role.
    v_role := pg_catalog.current_setting('role');
    IF v_role OPERATOR(pg_catalog.=) 'none' THEN
        v_role := session_user;
    END IF;

    INSERT INTO @schema@.vault_access_log
        (secret_id, session_user_name, current_user_name, jwt_role, jwt_sub, application_name, client_addr)
    VALUES (
        p_secret_id,
        session_user,
        v_role,
        coalesce(v_claims OPERATOR(pg_catalog.->>) 'role', pg_catalog.current_setting('request.jwt.claim.role', true)),
        coalesce(v_claims OPERATOR(pg_catalog.->>) 'sub', pg_catalog.current_setting('request.jwt.claim.sub', true)),
        pg_catalog.current_setting('application_name'),
        pg_catalog.inet_client_addr()
    );
    RETURN v_secret;
END;
$$;

CREATE FUNCTION @schema@.rotate_credential(p_secret_id uuid, p_new_secret text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'rotate_credential: p_secret_id must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'rotate_credential: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rotate_credential: p_new_secret is longer than 65536 bytes';
    END IF;

    PERFORM vault.update_secret(p_secret_id, p_new_secret);

    -- vault.update_secret raises nothing for an unknown id. Checking after the
    -- update is race-free without a row lock: if the update changed the row we
    -- hold its lock until commit, so a concurrent delete cannot slip in between;
    -- if the row is gone, the update changed nothing and the rotation fails.
    PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'rotate_credential: credential not found';
    END IF;
END;
$$;

CREATE FUNCTION @schema@.delete_credential(p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'delete_credential: p_secret_id must not be null';
    END IF;
    DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
END;
$$;

REVOKE ALL ON FUNCTION @schema@.store_credential(text, text, text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.retrieve_credential(uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.rotate_credential(uuid, text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.delete_credential(uuid) FROM PUBLIC, anon, authenticated;

GRANT USAGE ON SCHEMA @schema@ TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.store_credential(text, text, text) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.retrieve_credential(uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.rotate_credential(uuid, text) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.delete_credential(uuid) TO service_role;

COMMENT ON FUNCTION @schema@.store_credential(text, text, text) IS
    'Encrypts p_secret into Supabase Vault and returns the Vault secret id; keep only that id in your tables. '
    'SECURITY DEFINER, executable by service_role only. p_name is a label for humans: a name already used in '
    'Vault gets a random " #suffix". NULL p_name or p_secret raises 22004; an empty p_name, or a name, '
    'secret or description over 256, 65536 or 4096 bytes raises 22023.';
COMMENT ON FUNCTION @schema@.retrieve_credential(uuid) IS
    'Returns the decrypted credential and appends one row to vault_access_log. SECURITY DEFINER, executable by '
    'service_role only. Server-side use only (back-end services, Edge Functions during integration runs), never '
    'per end-user API request. Unknown id raises P0002; a ciphertext that does not decrypt raises 22000.';
COMMENT ON FUNCTION @schema@.rotate_credential(uuid, text) IS
    'Replaces the credential value in place: same id, new ciphertext, updated_at = now(). SECURITY DEFINER, '
    'executable by service_role only. Unknown id raises P0002; NULL arguments raise 22004.';
COMMENT ON FUNCTION @schema@.delete_credential(uuid) IS
    'Deletes the credential from Vault. Idempotent: an unknown id returns without error. SECURITY DEFINER, '
    'executable by service_role only.';
