-- 0003: metadata listing for rotation policies.
--
-- Operators need to find credentials that have not been rotated in N days
-- without reading any plaintext: list_credentials returns Vault's metadata
-- (never the secret or its ciphertext) with the last retrieval time from the
-- access log.

CREATE FUNCTION @schema@.list_credentials(
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
    SELECT s.id, s.name, s.description, s.created_at, s.updated_at,
           (SELECT pg_catalog.max(l.accessed_at)
              FROM @schema@.vault_access_log AS l
             WHERE l.secret_id = s.id)
      FROM vault.secrets AS s
     WHERE (p_name_prefix IS NULL OR pg_catalog.starts_with(s.name, p_name_prefix))
       AND (p_updated_before IS NULL OR s.updated_at < p_updated_before)
     ORDER BY s.updated_at, s.id
     LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;

REVOKE ALL ON FUNCTION @schema@.list_credentials(text, timestamptz, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION @schema@.list_credentials(text, timestamptz, integer) TO service_role;

COMMENT ON FUNCTION @schema@.list_credentials(text, timestamptz, integer) IS
    'Lists Vault secrets'' metadata (id, name, description, created_at, updated_at, last retrieval), oldest '
    'update first, never values. SECURITY DEFINER, executable by service_role only. p_updated_before finds '
    'credentials not rotated since a date; at most 1000 rows per call.';
