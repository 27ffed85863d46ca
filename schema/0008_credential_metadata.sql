-- Credential metadata by id: credential_get returns what credential_lookup
-- returns, for an id instead of a name, without the value, without
-- decrypting anything and without an access-log row (it reveals no more than
-- credential_list does). It answers "does this credential exist in my
-- namespace, and at which version?" in one index probe, as AWS Secrets
-- Manager's DescribeSecret and Google Secret Manager's GetSecret do; the
-- credvault command uses it to tell whether a delete found something.
--
-- A credential deleted into its recovery window is reported as unknown, as
-- by every other call.
--
-- SQLSTATEs: 22004 (a NULL argument), 22023 (an invalid namespace, as for
-- every credential_* function), P0002 (no credential with that id in the
-- namespace; another namespace's credential is reported exactly like an
-- unknown one).

CREATE FUNCTION @schema@.credential_get(p_namespace text, p_secret_id uuid)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_get', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_get: p_secret_id must not be null';
    END IF;
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           @schema@._credential_last_retrieved_at(c.id)
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND c.deleted_at IS NULL;
    IF FOUND THEN
        RETURN;
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        -- A Vault secret created without these functions belongs to the
        -- default namespace, named by its Vault name or its id.
        RETURN QUERY
        SELECT s.id, ''::text, coalesce(s.name, s.id::text), s.description, 1::bigint, NULL::timestamptz,
               s.created_at, s.updated_at, @schema@._credential_last_retrieved_at(s.id)
          FROM vault.secrets AS s
         WHERE s.id OPERATOR(pg_catalog.=) p_secret_id
           AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) s.id);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_get: credential not found';
END;
$$;

REVOKE ALL ON FUNCTION @schema@.credential_get(text, uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION @schema@.credential_get(text, uuid) TO service_role;

COMMENT ON FUNCTION @schema@.credential_get(text, uuid) IS
    'Returns the metadata (never the value) of the credential with this id if it belongs to the namespace, '
    'otherwise raises P0002, as for an unknown id. Decrypts nothing and writes no access-log row. '
    'SECURITY DEFINER, executable by service_role only. 22004 for a NULL id.';
