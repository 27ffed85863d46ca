-- Plaintext guard, second generation: encoded credentials, structure, more
-- providers.
--
-- The guard of 0005 reads credentials as written. Applications also store
-- them encoded (an uploaded key file as base64, a form-encoded token
-- request) and under names that say what they are (PARTNER_API_TOKEN, a
-- name/value pair of a settings list, a private JWK). This migration keeps
-- 0005's detector as plaintext_credential_scan() and puts a new
-- plaintext_credential_kind() in front of it, which the guard's trigger
-- already calls by name:
--
-- * plaintext_credential_scan(value): 0005's detector, unchanged (renamed).
-- * plaintext_guard_structure(value): secret-named keys of JSON objects and
--   KEY=value assignments with random-looking values, name/value pairs,
--   private JWKs, Google service-account keys.
-- * plaintext_guard_decode(value): the text of the plausible base64
--   (standard or URL-safe, padded or not, line-wrapped) and percent-encoded
--   parts of a value, at most 12 KiB per level.
-- * plaintext_guard_random(value): whether a value looks random (the test
--   the structure checks apply).
-- * plaintext_credential_kind(value): scan, then structure, then the same
--   two on the decoded text, two levels deep at most.
-- * plaintext_credential_candidate(value), the prefilter the trigger runs
--   on the whole row: it also lets through runs of 24 base64 characters
--   (not UUIDs, which every row holds and no detector flags), and searches
--   the rules' anchors as tries (plaintext_guard_trie(),
--   plaintext_guard_anchor_trie()), the anchors of rules whose matches hold
--   a run it finds anyway only where whitespace may split that run.
-- * reject_plaintext_credentials(), the trigger function, as 0005 wrote it
--   but for the look-up of column types, which read all of pg_type on every
--   row.
--
-- The rule table gains the formats of providers integration platforms hold
-- credentials of; the rows of 0005 are kept as plaintext_guard_rules_0005().

ALTER FUNCTION @schema@.plaintext_credential_kind(text) RENAME TO plaintext_credential_scan;

COMMENT ON FUNCTION @schema@.plaintext_credential_scan(text) IS
'The plaintext guard''s detector of credentials as written (migration 0005): the formats of plaintext_guard_rules() plus credential-named assignments, Authorization headers and URLs with random-looking secrets, checked as written, with whitespace removed and with JSON escapes decoded. Returns the kind or NULL, never any part of the value. Work is bounded: rules run only where their anchors occur, over windows of 16384 bytes overlapping by 2048, tokens are read on 256 characters, and a value that would need more than the budgets gets the label "value the guard cannot check within its limits". SECURITY DEFINER with a pinned search_path, executable by the owner only; used by plaintext_credential_kind().';

ALTER FUNCTION @schema@.plaintext_guard_rules() RENAME TO plaintext_guard_rules_0005;

COMMENT ON FUNCTION @schema@.plaintext_guard_rules_0005() IS
'Rules 1 to 54 of the plaintext guard, as migration 0005 shipped them; plaintext_guard_rules() returns them with the rules added since. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The rule table: the rows of 0005 and one row per format added since, in
-- the columns 0005 describes (anchors, pattern, before, after, flags,
-- source). A new provider is a new row.
CREATE FUNCTION @schema@.plaintext_guard_rules()
RETURNS TABLE (rule integer, label text, anchors text[], pattern text, before text, after text, flags text, source text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT o.* FROM @schema@.plaintext_guard_rules_0005() AS o
UNION ALL
SELECT r.* FROM (VALUES
    (55, 'Plaid access token', ARRAY['access-sandbox-', 'access-development-', 'access-production-', 'processor-sandbox-', 'processor-production-'],
        $re$(?:access|processor)-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://plaid.com/docs/api/tokens/'),
    (56, 'PlanetScale token', ARRAY['pscale_tkn_', 'pscale_pw_', 'pscale_oauth_'], $re$pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://planetscale.com/docs/concepts/service-tokens'),
    (57, 'Neon API key', ARRAY['napi_'], $re$napi_[a-z0-9]{64}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://neon.tech/docs/manage/api-keys'),
    (58, 'Brevo API key', ARRAY['xkeysib-', 'xsmtpsib-'], $re$x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developers.brevo.com/docs/getting-started'),
    (59, 'Mailchimp Transactional API key', ARRAY['md-'], $re$md-[A-Za-z0-9_-]{22}$re$, 'A-Za-z0-9+/_.-', 'A-Za-z0-9_-', 'rw',
        'https://mailchimp.com/developer/transactional/guides/quick-start/'),
    (60, 'Postmark server token', ARRAY['postmark'],
        $re$postmark[a-z0-9_.-]{0,40}(?:token|key)["'\\]{0,3}\s*[:=]\s*["'\\]{0,3}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$re$,
        '', '', 'i', 'https://postmarkapp.com/developer/api/overview#authentication'),
    (61, 'Flutterwave secret key', ARRAY['FLWSECK'], $re$FLWSECK(?:_TEST)?-[a-f0-9]{32}-X$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.flutterwave.com/docs/integration-guides/authentication'),
    (62, 'Shippo API token', ARRAY['shippo_live_', 'shippo_test_'], $re$shippo_(?:live|test)_[a-f0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://docs.goshippo.com/docs/guides_general/authentication/'),
    (63, 'EasyPost API key', ARRAY['EZAK', 'EZTK'], $re$EZ[AT]K[A-Za-z0-9]{54}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.easypost.com/docs/authentication'),
    (64, 'Duffel access token', ARRAY['duffel_live_', 'duffel_test_'], $re$duffel_(?:live|test)_[A-Za-z0-9_-]{43}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://duffel.com/docs/api/overview/making-requests/authentication'),
    (65, 'Braintree access token', ARRAY['access_token$production$', 'access_token$sandbox$'],
        $re$access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}$re$, '', '', '',
        'https://developer.paypal.com/braintree/docs/guides/credentials/'),
    -- two digits at least: test_shouldReturnUserWhenIdIsValid1 is a test's name (a random key has fewer
    -- than two digits once in thirty)
    (66, 'Mollie API key', ARRAY['live_', 'test_'], $re$(?<![A-Za-z0-9_])(?:live|test)_(?=(?:[A-Za-z]*[0-9]){2})[A-Za-z0-9]{30}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'rw',
        'https://docs.mollie.com/reference/authentication'),
    (67, 'HashiCorp Vault token', ARRAY['hvs.', 'hvb.', 'hvr.'], $re$hv[sbr]\.[A-Za-z0-9_-]{24}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes'),
    (68, 'Terraform Cloud token', ARRAY['.atlasv1.'], $re$[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.hashicorp.com/terraform/cloud-docs/users-teams-organizations/api-tokens'),
    (69, 'Pulumi access token', ARRAY['pul-'], $re$pul-[a-f0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://www.pulumi.com/docs/pulumi-cloud/access-management/access-tokens/'),
    (70, 'Docker Hub access token', ARRAY['dckr_pat_', 'dckr_oat_'], $re$dckr_(?:pat|oat)_[A-Za-z0-9_-]{27}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.docker.com/security/for-developers/access-tokens/'),
    (71, 'Tailscale key', ARRAY['tskey-'], $re$tskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]{8,}-[A-Za-z0-9]{24}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://tailscale.com/kb/1277/key-prefixes'),
    (72, '1Password service account token', ARRAY['ops_eyJ'], $re$ops_eyJ[A-Za-z0-9+/=_-]{100}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.1password.com/docs/service-accounts/'),
    (73, 'Figma access token', ARRAY['figd_'], $re$figd_[A-Za-z0-9_-]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://www.figma.com/developers/api#access-tokens'),
    (74, 'Contentful token', ARRAY['CFPAT-'], $re$CFPAT-[A-Za-z0-9_-]{43}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://www.contentful.com/developers/docs/references/authentication/'),
    (75, 'Netlify token', ARRAY['nfp_'], $re$nfp_[A-Za-z0-9]{36}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.netlify.com/api/get-started/#authentication'),
    (76, 'Fly.io token', ARRAY['fo1_', 'fm2_'], $re$f(?:o1|m2)_[A-Za-z0-9_+/=-]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://fly.io/docs/security/tokens/'),
    (77, 'PostHog personal API key', ARRAY['phx_'], $re$phx_[A-Za-z0-9]{43}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://posthog.com/docs/api#private-endpoint-authentication'),
    (78, 'Mapbox secret token', ARRAY['sk.eyJ'], $re$sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.mapbox.com/accounts/guides/tokens/'),
    (79, 'Buildkite API token', ARRAY['bkua_'], $re$bkua_[a-f0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://buildkite.com/docs/apis/managing-api-tokens'),
    (80, 'Sourcegraph access token', ARRAY['sgp_'], $re$sgp_(?:[a-f0-9]{16}_)?[a-f0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://sourcegraph.com/docs/cli/how-tos/creating_an_access_token'),
    (81, 'Groq API key', ARRAY['gsk_'], $re$gsk_[A-Za-z0-9]{52}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://console.groq.com/docs/quickstart'),
    (82, 'Replicate API token', ARRAY['r8_'], $re$r8_[A-Za-z0-9]{37}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://replicate.com/docs/topics/security/api-tokens'),
    (83, 'Pinecone API key', ARRAY['pcsk_'], $re$pcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.pinecone.io/guides/projects/manage-api-keys'),
    (84, 'Perplexity API key', ARRAY['pplx-'], $re$pplx-[A-Za-z0-9]{48}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.perplexity.ai/guides/getting-started'),
    (85, 'OpenRouter API key', ARRAY['sk-or-v1-'], $re$sk-or-v1-[a-f0-9]{64}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://openrouter.ai/docs/api-reference/authentication'),
    (86, 'xAI API key', ARRAY['xai-'], $re$xai-[A-Za-z0-9]{80}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.x.ai/docs/overview'),
    (87, 'Azure DevOps token', ARRAY['AZDO'], $re$[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://learn.microsoft.com/en-us/purview/sit-defn-azure-devops-personal-access-token'),
    (88, 'Asana access token', ARRAY['0/', '1/', '2/'], $re$[012]/[0-9]{6,20}(?:/[0-9]{6,20})?:[a-f0-9]{32}$re$, 'A-Za-z0-9/', 'A-Za-z0-9', 'w',
        'https://developers.asana.com/docs/personal-access-token'),
    (89, 'Linear OAuth token', ARRAY['lin_oauth_'], $re$lin_oauth_[a-f0-9]{64}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://developers.linear.app/docs/oauth/authentication'),
    (90, 'Bitbucket app password', ARRAY['ATBB'], $re$ATBB[A-Za-z0-9_=.-]{32}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://support.atlassian.com/bitbucket-cloud/docs/app-passwords/'),
    (91, 'Trello token', ARRAY['ATTA'], $re$ATTA[a-fA-F0-9]{64}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://developer.atlassian.com/cloud/trello/guides/rest-api/authorization/'),
    (92, 'Google OAuth refresh token', ARRAY['1//0'], $re$1//0[A-Za-z0-9_-]{40}$re$, 'A-Za-z0-9:/', '', 'r',
        'https://developers.google.com/identity/protocols/oauth2'),
    (93, 'Discord webhook URL', ARRAY['/api/webhooks/'], $re$discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60}$re$, '', '', '',
        'https://discord.com/developers/docs/resources/webhook'),
    (94, 'Klaviyo private API key', ARRAY['pk_'], $re$pk_[a-f0-9]{34}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://developers.klaviyo.com/en/docs/retrieve_api_credentials'),
    (95, 'ClickUp API token', ARRAY['pk_'], $re$pk_[0-9]{6,10}_[A-Z0-9]{32}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://clickup.com/api/developer-portal/authentication/'),
    (96, 'Dynatrace token', ARRAY['dt0c01.', 'dt0s01.'], $re$dt0[cs]01\.[A-Z0-9]{24}\.[A-Z0-9]{64}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.dynatrace.com/docs/manage/identity-access-management/access-tokens-and-oauth-clients/access-tokens'),
    (97, 'Prefect API key', ARRAY['pnu_'], $re$pnu_[A-Za-z0-9]{36}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.prefect.io/v3/manage/cloud/manage-users/api-keys'),
    (98, 'RubyGems API key', ARRAY['rubygems_'], $re$rubygems_[a-f0-9]{48}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://guides.rubygems.org/api-key-scopes/'),
    (99, 'Frame.io token', ARRAY['fio-u-'], $re$fio-u-[A-Za-z0-9_=-]{64}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.frame.io/docs/getting-started/authentication'),
    (100, 'Salesforce access token', ARRAY['00D'], $re$00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://help.salesforce.com/s/articleView?id=sf.remoteaccess_access_tokens.htm')
) AS r(rule, label, anchors, pattern, before, after, flags, source)
ORDER BY 1
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_rules() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_rules() IS
'The plaintext guard''s credential formats, one row each: label (the kind named in VA001 errors), anchors, pattern, the characters that may not precede or follow a match, flags and the public source of the format. Rules 1 to 54 come from plaintext_guard_rules_0005(). Adding a format is adding a row. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- Whether a value looks random, as a secret does and a name, a word, a
-- reference or a placeholder does not. Reads the first 256 characters.
--   letters and digits: the character class changes often (a run per six
--     characters), and words do not make up half of it;
--   both cases, no digit: 20 letters at least, changing case often;
--   one case, no digit: 24 letters at least without separators, fewer than
--     45% vowels (words joined together pass: under a secret's name that is
--     a passphrase).
CREATE FUNCTION @schema@.plaintext_guard_random(p_value text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    placeholder_re CONSTANT text := $re$^(?:none|null|nil|undefined|true|false|empty|redacted|removed|hidden|masked|changeme|placeholder|example|sample|dummy|todo|tbd|(?:your|my|the)[_-].*|.*[_-]here|[$%{<\[].*|.*\*{3,}.*|.*x{6,}.*|.*(?:example|redacted|placeholder|changeme|replace[_-]?me).*|(?:env|file|vault|secret|secrets|ssm|awssm|secretsmanager|gsm|gcp|azure|kv|keyvault|op|doppler|infisical|arn|ref|secretref|sm)[:/].*|projects/.*|[a-z][a-z0-9+.-]*://.*|[0-9]{4}-[0-9]{2}-[0-9]{2}.*|[^@\s]+@[^@\s]+\.[a-z]{2,}|\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?)$$re$;
    -- counting runs, and a character repeated 8 times (spelled out: no backreference)
    dummy_re CONSTANT text := '0123456789|abcdefghij|ABCDEFGHIJ|'
        'A{8}|B{8}|C{8}|D{8}|E{8}|F{8}|G{8}|H{8}|I{8}|J{8}|K{8}|L{8}|M{8}|N{8}|O{8}|P{8}|Q{8}|R{8}|S{8}|T{8}|U{8}|V{8}|W{8}|X{8}|Y{8}|Z{8}|a{8}|b{8}|c{8}|d{8}|'
        'e{8}|f{8}|g{8}|h{8}|i{8}|j{8}|k{8}|l{8}|m{8}|n{8}|o{8}|p{8}|q{8}|r{8}|s{8}|t{8}|u{8}|v{8}|w{8}|x{8}|y{8}|z{8}|0{8}|1{8}|2{8}|3{8}|4{8}|5{8}|6{8}|7{8}|8{8}|9{8}';
    v text := pg_catalog.left(p_value, 256);
    an text;
    n integer;
    runs integer;
    words integer;
BEGIN
    IF v IS NULL OR pg_catalog.length(v) < 16 THEN
        RETURN false;
    END IF;
    an := pg_catalog.regexp_replace(v, '[^A-Za-z0-9]', '', 'g');
    n := pg_catalog.length(an);
    -- mostly letters and digits, and not a number
    IF n < 16 OR n * 4 < pg_catalog.length(v) * 3 OR an !~ '[A-Za-z]' THEN
        RETURN false;
    END IF;
    runs := pg_catalog.length(pg_catalog.regexp_replace(an, '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
    IF an !~ '[0-9]' AND (an !~ '[a-z]' OR an !~ '[A-Z]') THEN
        IF n < 24 OR n < pg_catalog.length(v)
           OR pg_catalog.length(pg_catalog.regexp_replace(an, '[^aeiouyAEIOUY]', '', 'g')) * 100 >= n * 45 THEN
            RETURN false;
        END IF;
    ELSIF runs < GREATEST(4, n / 6) OR (an !~ '[0-9]' AND (n < 20 OR runs * 3 < n)) THEN
        RETURN false;
    END IF;
    -- the costlier tests last: placeholders and references, dummies
    IF v ~* placeholder_re OR v ~ dummy_re THEN
        RETURN false;
    END IF;
    IF an !~ '[0-9]' AND (an !~ '[a-z]' OR an !~ '[A-Z]') THEN
        RETURN true;
    END IF;
    -- not made of words: capitalized or lower-case words of four letters or
    -- more with a quarter vowels, or letter-only segments between
    -- separators, covering half of it
    SELECT COALESCE(pg_catalog.sum(pg_catalog.length(wd.w[1])), 0) INTO words
      FROM pg_catalog.regexp_matches(v, '([A-Z]?[a-z]{4,})', 'g') AS wd(w)
     WHERE pg_catalog.length(pg_catalog.regexp_replace(wd.w[1], '[^aeiouyAEIOUY]', '', 'g')) * 4 >= pg_catalog.length(wd.w[1]);
    IF words * 2 >= n THEN
        RETURN false;
    END IF;
    an := ' ' || pg_catalog.regexp_replace(v, '[^A-Za-z0-9]+', ' ', 'g') || ' ';
    RETURN (pg_catalog.length(an) - pg_catalog.length(pg_catalog.regexp_replace(an, ' (?:[A-Z]?[a-z]+|[A-Z]+)(?= )', ' ', 'g'))) * 2 < n;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_random(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_random(text) IS
'Whether a value (its first 256 characters) looks random, as a secret does and a name, a word, a reference, a UUID or a placeholder does not: letters and digits with frequent class changes and not made of words, or 20 letters of both cases changing case often, or 24 letters of one case without separators and with fewer than 45% vowels. The plaintext guard''s randomness test. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The first match of a regular expression in a text, and the text after
-- the match's first capture, searched in windows of 16384 characters that
-- overlap by 512: PostgreSQL converts the whole text it searches on every
-- call, so a loop over the matches of a long value searches windows, not the
-- value. A match longer than 512 characters may be cut at a window's end.
CREATE FUNCTION @schema@.plaintext_guard_match(p_text text, p_re text, p_flags text, OUT m text[], OUT rest text)
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    win CONSTANT integer := 16384;
    overlap CONSTANT integer := 512;
    y text := p_text;
    w text;
BEGIN
    LOOP
        w := pg_catalog.left(y, win);
        -- the whole match as capture 1: the next search starts after it
        m := pg_catalog.regexp_match(w, '(' || p_re || ')', p_flags);
        IF m IS NOT NULL THEN
            rest := pg_catalog.substr(y, pg_catalog.strpos(w, m[1]) + GREATEST(pg_catalog.length(m[1]), 1));
            m := m[2:];
            RETURN;
        END IF;
        EXIT WHEN w IS NULL OR pg_catalog.length(w) < win;
        y := pg_catalog.substr(y, win - overlap + 1);
    END LOOP;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_match(text, text, text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_match(text, text, text) IS
'The plaintext guard''s search for the next match: the captures of the first match of p_re (with regexp flags p_flags) in p_text and the text after that match, or NULLs, searched in windows of 16384 characters overlapping by 512, so that a loop over the matches of a long value costs one pass over it. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The decoded text of a value's plausibly encoded parts, or NULL:
-- * base64, standard or URL-safe, padded or not, wrapped in lines (raw or
--   JSON-escaped line breaks): runs that begin after a character outside
--   the base64 alphabets and whose first six groups of four characters or
--   more decode to ASCII (each group's first three characters are then
--   constrained; random base64 has such a run once in 262,144), decoded up
--   to the first group that does not;
-- * percent-encoding (form bodies, query strings): the first 32 distinct
--   %XX escapes of printable characters.
-- At most 64 base64 runs and p_budget bytes of decoded text per call; spent
-- says that encoded text was left beyond them.
CREATE FUNCTION @schema@.plaintext_guard_decode(p_value text, p_budget integer, OUT decoded text, OUT spent boolean)
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    run_limit CONSTANT integer := 64;
    escape_budget CONSTANT integer := 32;
    escape_text CONSTANT integer := 8192;   -- characters of a form body decoded
    -- a group of four characters that decodes to three ASCII bytes, six
    -- such groups at least, and a final partial group
    b64_re CONSTANT text := $re$(?:^|[^A-Za-z0-9+/_-])((?:[A-Za-f][A-HQ-Xg-nw-z0-3][AEIMQUYcgkosw048BFJNRVZdhlptx159][A-Za-z0-9+/_-]){6,}(?:[A-Za-f][A-HQ-Xg-nw-z0-3][AEIMQUYcgkosw048BFJNRVZdhlptx159]?)?)$re$;
    x text;
    y text;
    out text := '';
    left_bytes integer := p_budget;
    c text;
    m text[];
    k integer;
BEGIN
    spent := false;
    IF p_value IS NULL OR p_budget <= 0 THEN
        RETURN;
    END IF;
    -- line breaks, raw or JSON-escaped, and JSON-escaped slashes go
    y := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
             p_value, pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), '\n', ''), '\r', ''), '\/', '/');
    -- one run at a time, each search starting after the previous run
    x := y;
    FOR k IN 1..run_limit + 1 LOOP
        SELECT nm.m, nm.rest INTO m, x FROM @schema@.plaintext_guard_match(x, b64_re, '') AS nm;
        EXIT WHEN m IS NULL;
        IF k > run_limit OR left_bytes <= 0 THEN
            spent := true;  -- a run is left that the budgets do not cover
            EXIT;
        END IF;
        c := m[1];
        IF pg_catalog.length(c) > (left_bytes + 2) / 3 * 4 THEN
            spent := true;  -- the run is longer than what is left to decode
        END IF;
        c := pg_catalog.translate(pg_catalog.left(c, (left_bytes + 2) / 3 * 4), '-_', '+/');
        IF pg_catalog.length(c) % 4 = 1 THEN
            c := pg_catalog.left(c, pg_catalog.length(c) - 1);
        END IF;
        c := c || pg_catalog.repeat('=', (4 - pg_catalog.length(c) % 4) % 4);
        -- every byte is below 0x80: only NUL is escaped, and backslashes doubled
        c := pg_catalog.encode(pg_catalog.decode(c, 'base64'), 'escape');
        c := pg_catalog.replace(pg_catalog.replace(c, '\000', ' '), '\\', '\');
        out := out || c || pg_catalog.chr(10);
        left_bytes := left_bytes - pg_catalog.octet_length(c);
    END LOOP;
    IF y ~ '%[2-7][0-9A-Fa-f]' AND left_bytes > 0 THEN
        c := pg_catalog.left(y, LEAST(left_bytes, escape_text));
        FOR k IN 1..escape_budget + 1 LOOP
            m := pg_catalog.regexp_match(c, '%([2-7][0-9A-Fa-f])');
            EXIT WHEN m IS NULL;
            IF k > escape_budget THEN
                spent := true;
                EXIT;
            END IF;
            c := pg_catalog.replace(c, '%' || m[1], pg_catalog.chr(pg_catalog.get_byte(pg_catalog.decode(m[1], 'hex'), 0)));
        END LOOP;
        out := out || c;
    END IF;
    decoded := NULLIF(out, '');
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_decode(text, integer, OUT text, OUT boolean) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_decode(text, integer, OUT text, OUT boolean) IS
'The plaintext guard''s decoder: the text of a value''s plausibly encoded parts, or NULL. Base64 (standard or URL-safe, padded or not, wrapped in lines, raw or JSON-escaped) is decoded where at least 24 characters decode to ASCII, up to the first group that does not; percent-encoding (form bodies, query strings) is decoded for its first 32 distinct escapes of printable characters. At most 64 base64 runs and p_budget bytes of decoded text; spent is true when a run or an escape is left beyond these budgets, and the guard then rejects the value as one it cannot check within its limits. Never raises for any input. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The kind named for a secret's name in an assignment or a name/value pair.
CREATE FUNCTION @schema@.plaintext_guard_assignment_kind(p_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE
        WHEN p_name OPERATOR(pg_catalog.~) 'client[_.-]?secret$' THEN 'client_secret assignment'
        WHEN p_name OPERATOR(pg_catalog.~) 'private[_.-]?key$' THEN 'private key assignment'
        WHEN p_name OPERATOR(pg_catalog.~) '(?:pass(?:word|wd|phrase))$' THEN 'password assignment'
        WHEN p_name OPERATOR(pg_catalog.~) 'secret$' THEN 'secret assignment'
        WHEN p_name OPERATOR(pg_catalog.~) 'token$' THEN 'token assignment'
        ELSE 'api_key assignment'
    END
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_assignment_kind(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_assignment_kind(text) IS
'The kind the plaintext guard names for a random-looking value under the secret''s name p_name (lower case): client_secret, private key, password, secret, token or api_key assignment. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- Structure: what a value's shape says is a secret.
CREATE FUNCTION @schema@.plaintext_guard_structure(p_value text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    check_budget CONSTANT integer := 64;    -- secret-named values tested for randomness per value
    too_costly CONSTANT text := 'value the guard cannot check within its limits';
    -- a secret's name (ending in one of the words), a separator and a value
    -- (unbounded repetitions: PostgreSQL matches them faster than bounded ones)
    words CONSTANT text := $re$(?:token|secret|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|signing[_.-]?key|password|passwd|passphrase|credentials?)$re$;
    assign_re CONSTANT text := $re$([a-z0-9_.-]*$re$ || words || $re$)["']?\s*(?:=|:)\s*["']?([^\s"'`,;&<>{}()\[\]\\|]{16,})$re$;
    -- a name/value pair of a settings list: {"name": "PARTNER_API_TOKEN", "value": "..."}, in either
    -- order, read from each "value" key: the value's first characters, and a secret's name in the same
    -- object, before the key (back to the object's brace) or after the value's closing quote
    value_re CONSTANT text := $re$^\s*:\s*"([^"\\]{16,255})$re$;  -- what follows a "value" key
    name_re CONSTANT text := $re$"(?:name|key|variable|env|var)"\s*:\s*"([a-z0-9_.-]*$re$ || words || $re$)"$re$;
    name_after_re CONSTANT text := $re$^[^{}]*?"(?:name|key|variable|env|var)"\s*:\s*"([a-z0-9_.-]*$re$ || words || $re$)"$re$;
    side CONSTANT integer := 1024;          -- characters searched for the name, before the key and after the value
    -- values no test would find random, skipped before the budget counts them: UUIDs (the ids
    -- this library stores) and words joined by hyphens or underscores (placeholders)
    skip_re CONSTANT text := '^(?:[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}|[a-z]+(?:[-_][a-z]+){2,})$';
    -- names whose values are not secrets
    public_re CONSTANT text := $re$(?:page|sync|next|prev|continuation|cursor|delta|resume|change|state|csrf|xsrf|verify|verification|idempotency|device|push|registration|fcm|apns|public|publishable|pub|primary|partition|sort|foreign|cache|row|object|ssh|host)[_.-]?(?:token|key)$|token[_.-]?type$$re$;
    x text;
    m text[];
    nm text;
    v text;
    y text;
    w text;
    a text;
    prev text;
    q integer;
    checks integer := 0;
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) < 16 THEN
        RETURN NULL;
    END IF;
    -- JSON inside JSON strings: quotes escaped at any depth
    x := p_value;
    IF pg_catalog.strpos(x, '\"') > 0 THEN
        x := pg_catalog.regexp_replace(x, '\\+"', '"', 'g');
    END IF;

    -- a private or symmetric JWK
    IF pg_catalog.strpos(x, '"kty"') > 0 THEN
        IF x ~ '"d"\s*:\s*"[A-Za-z0-9_-]{16}' THEN
            RETURN 'private JWK';
        END IF;
        IF x ~* '"kty"\s*:\s*"oct"' AND x ~ '"k"\s*:\s*"[A-Za-z0-9_-]{16}' THEN
            RETURN 'symmetric JWK';
        END IF;
    END IF;
    -- a Google service-account key file
    IF x ~ '"type"\s*:\s*"service_account"' AND x ~ '"private_key"\s*:\s*"[^"]{40}' THEN
        RETURN 'Google service account key';
    END IF;

    -- name/value pairs of settings lists, from each "value" key: the text
    -- is split at the keys once, and each key is read with the pieces before
    -- and after it, so that the whole costs one pass over the text (and
    -- none when no secret's name is there)
    prev := NULL;
    FOREACH a IN ARRAY CASE WHEN x ~* name_re THEN pg_catalog.string_to_array(x, '"value"') ELSE ARRAY[]::text[] END LOOP
        IF prev IS NOT NULL THEN
            v := (pg_catalog.regexp_match(pg_catalog.left(a, 300), value_re))[1];
            -- (a random value holds a run of 8 letters or digits)
            IF v IS NOT NULL AND v ~ '[A-Za-z0-9]{8}' AND v !~ skip_re THEN
                -- a secret's name before the key, in the same object
                w := pg_catalog.right(prev, side);
                q := pg_catalog.strpos(pg_catalog.reverse(w), '{');
                IF q > 0 THEN
                    w := pg_catalog.right(w, q - 1);
                END IF;
                nm := NULL;
                IF w ~* words THEN  -- one expression before a query per name
                    FOR m IN SELECT pg_catalog.regexp_matches(w, name_re, 'gi') LOOP
                        nm := pg_catalog.lower(m[1]);
                        EXIT WHEN nm !~ public_re;
                        nm := NULL;
                    END LOOP;
                END IF;
                IF nm IS NULL THEN
                    -- or after the value's closing quote
                    q := pg_catalog.strpos(a, '"');
                    q := q + 1 + pg_catalog.strpos(pg_catalog.substr(a, q + 1), '"');
                    nm := pg_catalog.lower((pg_catalog.regexp_match(pg_catalog.substr(a, q, side), name_after_re, 'i'))[1]);
                END IF;
                IF nm IS NOT NULL AND nm !~ public_re THEN
                    checks := checks + 1;
                    IF checks > check_budget THEN
                        RETURN too_costly;
                    END IF;
                    IF @schema@.plaintext_guard_random(pg_catalog.rtrim(v, '.:')) THEN
                        RETURN @schema@.plaintext_guard_assignment_kind(nm);
                    END IF;
                END IF;
            END IF;
        END IF;
        prev := a;
    END LOOP;

    -- assignments of JSON objects, YAML, .env files and form bodies, one
    -- match at a time, each search starting after the previous match
    -- (regexp_matches() would find every match of a long value first)
    IF x ~* (words || $re$["']?\s*[=:]$re$) THEN
        y := x;
        LOOP
            SELECT nm.m, nm.rest INTO m, y FROM @schema@.plaintext_guard_match(y, assign_re, 'i') AS nm;
            EXIT WHEN m IS NULL;
            nm := pg_catalog.lower(m[1]);
            CONTINUE WHEN nm ~ public_re OR m[2] ~ skip_re;
            checks := checks + 1;
            IF checks > check_budget THEN
                RETURN too_costly;
            END IF;
            IF @schema@.plaintext_guard_random(pg_catalog.rtrim(pg_catalog.left(m[2], 256), '.:')) THEN
                RETURN @schema@.plaintext_guard_assignment_kind(nm);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_structure(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_structure(text) IS
'The plaintext guard''s structure checks: a private or symmetric JWK, a Google service-account key file, and values that plaintext_guard_random() finds random under a secret''s name (..._TOKEN, ..._SECRET, ..._API_KEY, ..._PASSWORD, refresh_token, client_secret, private_key, ...) in JSON objects, name/value pairs of settings lists, YAML, .env files and form bodies; names of values that are not secrets (page_token, publishable_key, public_key, token_type, ...) are skipped. Name/value pairs are read from each "value" key: the first 256 characters of the value, and a name up to 1024 characters before the key (back to the brace of the object) or after the value; UUIDs and words joined by hyphens are not tested; at most 64 secret-named values are tested per value, beyond which the value is reported as one the guard cannot check within its limits. Returns the kind or NULL, never any part of the value. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The case-sensitive anchors of the rules that need no run of 20 letters
-- or digits, as one regular expression in the shape of a trie
-- ("gh(?:o_|p_|...)|gl(?:...)"): PostgreSQL builds the automaton of a
-- regular expression anew on every search, and a trie gives it a fraction
-- of the states of a flat union of the same anchors. An anchor that
-- contains another one is left out (the shorter one finds it).
CREATE FUNCTION @schema@.plaintext_guard_trie(p_words text[])
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    alts text[] := ARRAY[]::text[];
    c text;
    rest text[];
BEGIN
    IF '' OPERATOR(pg_catalog.=) ANY (p_words) THEN
        RETURN '';  -- a shorter word ends here: it alone decides
    END IF;
    FOR c, rest IN
        SELECT pg_catalog.left(w, 1), pg_catalog.array_agg(pg_catalog.substr(w, 2) ORDER BY w)
          FROM pg_catalog.unnest(p_words) AS w GROUP BY 1 ORDER BY 1
    LOOP
        -- a word alone in its group is written out whole
        alts := alts || CASE WHEN pg_catalog.cardinality(rest) OPERATOR(pg_catalog.=) 1
                             THEN pg_catalog.regexp_replace(c || rest[1], '([^A-Za-z0-9_ ])', '\\\1', 'g')
                             ELSE pg_catalog.regexp_replace(c, '([^A-Za-z0-9_ ])', '\\\1') || @schema@.plaintext_guard_trie(rest) END;
    END LOOP;
    RETURN CASE WHEN pg_catalog.cardinality(alts) OPERATOR(pg_catalog.=) 1 THEN alts[1]
                ELSE '(?:' || pg_catalog.array_to_string(alts, '|') || ')' END;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_trie(text[]) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_trie(text[]) IS
'The words p_words (literal strings) as one regular expression in the shape of a trie, which PostgreSQL searches much faster than their flat union; used to build the plaintext guard''s prefilter. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- A rule is "long" when its pattern, outside its groups, has a bracket
-- expression whose minimum count implies a run that the prefilter finds
-- without the rule's anchor: 20 letters or digits, 24 base64 characters
-- without a hyphen, or 37 with hyphens (longer than a UUID). Such a rule's
-- anchor matters only where whitespace or a backslash, which the detector
-- removes, may split that run.
CREATE FUNCTION @schema@.plaintext_guard_anchor_trie(p_long boolean)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH RECURSIVE g AS MATERIALIZED (
    SELECT * FROM @schema@.plaintext_guard_rules()
), top(rule, p, depth) AS (
    -- each pattern without its groups, removed innermost first
    SELECT g.rule, g.pattern, 0 FROM g
    UNION ALL
    SELECT t.rule, pg_catalog.regexp_replace(t.p, $re$\((?:[^()\\]|\\.)*\)[?*+]?(?:\{[0-9,]*\})?$re$, '', 'g'), t.depth OPERATOR(pg_catalog.+) 1
      FROM top AS t
     WHERE pg_catalog.strpos(t.p, '(') OPERATOR(pg_catalog.>) 0 AND t.depth OPERATOR(pg_catalog.<) 8
), r AS (
    SELECT DISTINCT ON (t.rule) t.rule,
           EXISTS (SELECT FROM pg_catalog.regexp_matches(t.p, $re$\[([^]]*)\]\{([0-9]+)$re$, 'g') AS c(m)
                    WHERE (c.m[1] ~ '^(?:A-Z|a-z|0-9|a-f|A-F)+$' AND c.m[2]::integer OPERATOR(pg_catalog.>=) 20)
                       OR (c.m[1] ~ '^(?:A-Z|a-z|0-9|a-f|A-F|[+/_])+$' AND c.m[2]::integer OPERATOR(pg_catalog.>=) 24)
                       OR (c.m[1] ~ '^(?:A-Z|a-z|0-9|a-f|A-F|[+/_-])+$' AND c.m[2]::integer OPERATOR(pg_catalog.>=) 37)) AS long
      FROM top AS t
     ORDER BY t.rule, t.depth DESC
), l AS (
    -- the literals plaintext_guard_rule_column('anchor_cs') joins (in no
    -- case-insensitive rule, in some rule without the weak flag), and
    -- whether every rule they gate needs a run the prefilter finds anyway
    -- (weak rules are only tried where there is a run of 20)
    SELECT a.lit, pg_catalog.bool_and(r.long OR pg_catalog.strpos(g.flags, 'w') OPERATOR(pg_catalog.>) 0) AS long
      FROM g
     CROSS JOIN LATERAL pg_catalog.unnest(g.anchors) AS a(lit)
      JOIN r ON r.rule OPERATOR(pg_catalog.=) g.rule
     GROUP BY a.lit
    HAVING NOT pg_catalog.bool_or(pg_catalog.strpos(g.flags, 'i') OPERATOR(pg_catalog.>) 0)
       AND NOT pg_catalog.bool_and(pg_catalog.strpos(g.flags, 'w') OPERATOR(pg_catalog.>) 0)
)
-- an anchor that contains another one always searched for is left out
SELECT COALESCE(@schema@.plaintext_guard_trie(pg_catalog.array_agg(l.lit)), '$^')
  FROM l
 WHERE l.long OPERATOR(pg_catalog.=) p_long
   AND NOT EXISTS (SELECT FROM l AS l2
                    WHERE l2.lit OPERATOR(pg_catalog.<>) l.lit AND pg_catalog.strpos(l.lit, l2.lit) OPERATOR(pg_catalog.>) 0
                      AND (NOT l2.long OR p_long))
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_anchor_trie(boolean) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_anchor_trie(boolean) IS
'The case-sensitive anchors of plaintext_guard_rules() that the prefilter looks for (those of rules that need no run of 20 letters or digits) as one regular expression in the shape of a trie: with p_long false those of rules that may match without a run the prefilter finds anyway, with p_long true the others. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The prefilter also lets through runs of 24 base64 characters, which may
-- hold an encoded credential without a run of 20 letters or digits, unless
-- they are UUIDs (hex digits and hyphens, which base64url shares): no
-- detector finds anything in a UUID, and most rows hold one ("kty" is
-- looked for instead: a JWK's "d" may be no longer than a UUID).
CREATE OR REPLACE FUNCTION @schema@.plaintext_credential_candidate(p_value text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Anchors of every rule, derived from the rule table.
    pf_cs CONSTANT text := @schema@.plaintext_guard_anchor_trie(false) || $re$|\\u|\\/$re$;
    pf_long CONSTANT text := @schema@.plaintext_guard_anchor_trie(true);
    pf_ci CONSTANT text := (@schema@.plaintext_guard_rule_column('anchor_ci'))[1]
        || $re$|"kty"|private[ _]?key|authorization|bearer\s|basic\s|://[^\s/@]*:[^\s/@]*@|(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)[^a-z0-9_.-]{0,3}[=:]$re$;
    pf_run CONSTANT text := '[A-Za-z0-9]{20}';
    pf_b64 CONSTANT text := '[A-Za-z0-9+/_-]{24}';
    uuid_re CONSTANT text := '(?<![A-Za-z0-9+/_-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9+/_-])';
    x text;
BEGIN
    -- A value none of these matches, as-is or with line breaks (raw or
    -- JSON-escaped) removed, is not a credential. They are kept apart
    -- because PostgreSQL runs small regular expressions much faster than
    -- their union; the cheapest go first.
    x := p_value;
    FOR pass IN 1..2 LOOP
        IF x ~ pf_run THEN
            RETURN true;
        END IF;
        IF x ~ pf_b64 AND (pg_catalog.strpos(x, '-') OPERATOR(pg_catalog.=) 0
                           OR pg_catalog.regexp_replace(x, uuid_re, ' ', 'g') ~ pf_b64) THEN
            RETURN true;
        END IF;
        IF (pass OPERATOR(pg_catalog.=) 1 AND x ~* pf_ci) OR x ~ pf_cs THEN
            RETURN true;
        END IF;
        -- The other anchors' rules match a run found above, unless
        -- whitespace or a backslash (which the detector removes) splits it;
        -- the spaces jsonb prints after a key and between members split none.
        IF pass OPERATOR(pg_catalog.=) 1
           AND (pg_catalog.strpos(pg_catalog.replace(pg_catalog.replace(x, '": ', '":'), ', "', ',"'), ' ') OPERATOR(pg_catalog.>) 0
                OR x ~ '[\t\n\r\v\f\\]')
           AND x ~ pf_long THEN
            RETURN true;
        END IF;
        x := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                 p_value, pg_catalog.chr(9), ''), pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), '\n', ''), '\r', ''), '\t', '');
        EXIT WHEN x OPERATOR(pg_catalog.=) p_value;
    END LOOP;
    RETURN false;
END;
$fn$;

COMMENT ON FUNCTION @schema@.plaintext_credential_candidate(text) IS
'Cheap prefilter of the plaintext guard: false when the value cannot contain any credential plaintext_credential_kind() detects, as written or encoded: no run of 20 letters or digits, no run of 24 base64 characters but UUIDs, no context word, and no anchor of plaintext_guard_rules() (those of rules whose matches hold such a run only where whitespace or a backslash may split it), as written or with line breaks removed. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The guard's detector: the value as written, then its decoded text, two
-- levels deep at most (base64 inside base64, a form body inside base64).
CREATE FUNCTION @schema@.plaintext_credential_kind(p_value text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    win CONSTANT integer := 16384;          -- bytes; longer values skip the prefilter, as in the scan
    decode_budget CONSTANT integer := 12288; -- bytes of decoded text per level: all that a head of base64 holds
    levels CONSTANT integer := 2;
    head CONSTANT integer := 16384;         -- characters read for structure and encodings
    too_costly CONSTANT text := 'value the guard cannot check within its limits';
    x text;
    kind text;
    spent boolean;
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) < 8 THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.octet_length(p_value) <= win AND NOT @schema@.plaintext_credential_candidate(p_value) THEN
        RETURN NULL;
    END IF;
    kind := @schema@.plaintext_credential_scan(p_value);
    -- structure and encodings are looked for in the value's first
    -- characters only
    x := pg_catalog.left(p_value, head);
    kind := COALESCE(kind, @schema@.plaintext_guard_structure(x));
    FOR level IN 1..levels LOOP
        EXIT WHEN kind IS NOT NULL;
        SELECT d.decoded, d.spent INTO x, spent FROM @schema@.plaintext_guard_decode(x, decode_budget) AS d;
        IF x IS NOT NULL THEN
            kind := COALESCE(@schema@.plaintext_credential_scan(x), @schema@.plaintext_guard_structure(x));
            IF kind IS NOT NULL AND kind <> too_costly THEN
                kind := 'encoded ' || kind;
            END IF;
        END IF;
        -- encoded text beyond the decoder's budgets is not left unread
        IF kind IS NULL AND spent THEN
            kind := too_costly;
        END IF;
        EXIT WHEN x IS NULL;
    END LOOP;
    RETURN kind;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_credential_kind(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_credential_kind(text) IS
'Returns a short label of the kind of plaintext credential (API key, token, password, private key, credential URL, private JWK, ...) that the value appears to contain, or NULL; never any part of the value. Runs plaintext_credential_scan() on the value as written and plaintext_guard_structure() on its first 16384 characters, then both on the text plaintext_guard_decode() finds encoded in those characters (base64, percent-encoding; 12288 bytes at most per level), and on the text encoded in that, two levels at most; a credential found in decoded text is labelled "encoded <kind>". SECURITY DEFINER with a pinned search_path, executable by the owner only; used by reject_plaintext_credentials().';

-- The guard's trigger function, as 0005 wrote it but for the look-up of
-- the columns' types, which read all of pg_type on every row.
CREATE OR REPLACE FUNCTION @schema@.reject_plaintext_credentials()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Column names that give their value assignment context.
    name_re CONSTANT text := $re$(?:api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?)$$re$;
    guard_name CONSTANT name := 'credvault_reject_plaintext';
    event_bit integer;
    checked boolean;
    new_row json;
    old_row json;
    all_builtin boolean;
    names text;
    cols text;
    q text;
    col text;
    val text;
    kind text;
BEGIN
    IF TG_WHEN = 'AFTER' THEN
        -- The BEFORE trigger has checked the row unless it is disabled, or
        -- something changed the row after it: another BEFORE ROW trigger
        -- for this event whose name sorts after the guard's (triggers fire
        -- in name order), or a stored generated column (computed after the
        -- BEFORE triggers).
        event_bit := CASE TG_OP WHEN 'INSERT' THEN 4 ELSE 16 END;
        SELECT COALESCE(pg_catalog.bool_or(tr.tgname OPERATOR(pg_catalog.=) guard_name
                                           AND tr.tgenabled OPERATOR(pg_catalog.=) ANY (ARRAY['O', 'A']::"char"[])), false)
               AND NOT COALESCE(pg_catalog.bool_or(tr.tgname OPERATOR(pg_catalog.>) guard_name
                                                   AND tr.tgenabled OPERATOR(pg_catalog.<>) 'D'), false)
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                                WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0
                                  AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) 's')
          INTO checked
          FROM pg_catalog.pg_trigger AS tr
         WHERE tr.tgrelid OPERATOR(pg_catalog.=) TG_RELID
           AND (tr.tgtype::integer OPERATOR(pg_catalog.&) 67) OPERATOR(pg_catalog.=) 3  -- ROW and BEFORE, not INSTEAD
           AND (tr.tgtype::integer OPERATOR(pg_catalog.&) event_bit) OPERATOR(pg_catalog.<>) 0;
        IF checked THEN
            RETURN NULL;
        END IF;
    END IF;

    -- to_json() applies a cast to json that the owner of a column's type may
    -- have created, and this function runs with its owner's rights. Only
    -- rows whose columns all have built-in types (which only a superuser can
    -- give casts; domains, at any depth, count as their base type) go
    -- through it. Other rows are read through each column type's output
    -- function (format('%s')), which only a superuser can define: extension
    -- types such as citext and hstore, enums, composites and arrays of
    -- domains are checked as the text PostgreSQL prints for them.
    -- Most tables have only built-in types and no domain: one cheap look.
    -- (The type of each column is looked up by its oid: a join lets the
    -- planner read all of pg_type on every row.)
    SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                          AND (a.atttypid OPERATOR(pg_catalog.>=) 16384::oid
                               OR (SELECT ty.typtype FROM pg_catalog.pg_type AS ty
                                    WHERE ty.oid OPERATOR(pg_catalog.=) a.atttypid) OPERATOR(pg_catalog.=) 'd'))
      INTO all_builtin;
    IF NOT all_builtin THEN
        SELECT pg_catalog.bool_and(bt.base OPERATOR(pg_catalog.<) 16384),
               pg_catalog.string_agg(pg_catalog.quote_literal(a.attname), ', ' ORDER BY a.attnum),
               pg_catalog.string_agg(pg_catalog.format('pg_catalog.format(%L, r.%I)', '%s', a.attname), ', ' ORDER BY a.attnum)
          INTO all_builtin, names, cols
          FROM pg_catalog.pg_attribute AS a
          JOIN pg_catalog.pg_type AS ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
         CROSS JOIN LATERAL (
               SELECT CASE WHEN ty.typtype OPERATOR(pg_catalog.<>) 'd' THEN ty.oid ELSE (
                          WITH RECURSIVE d(oid, typtype, typbasetype, depth) AS (
                              SELECT ty.oid, ty.typtype, ty.typbasetype, 0
                              UNION ALL
                              SELECT t2.oid, t2.typtype, t2.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                                FROM d JOIN pg_catalog.pg_type AS t2 ON t2.oid OPERATOR(pg_catalog.=) d.typbasetype
                               WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 64)
                          SELECT d.oid FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' LIMIT 1) END::bigint AS base) AS bt
         WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        IF names IS NULL THEN
            RETURN NEW; -- no columns
        END IF;
    END IF;
    IF all_builtin THEN
        new_row := pg_catalog.to_json(NEW);
        IF TG_OP = 'UPDATE' THEN
            old_row := pg_catalog.to_json(OLD);
        END IF;
    ELSE
        q := 'SELECT pg_catalog.json_object(ARRAY[' || names || ']::text[], ARRAY[' || cols || ']::text[]) FROM (SELECT ($1).*) AS r';
        EXECUTE q INTO new_row USING NEW;
        IF TG_OP = 'UPDATE' THEN
            EXECUTE q INTO old_row USING OLD;
        END IF;
    END IF;

    -- The prefilter on the whole row (as JSON, so column names give
    -- context) before any per-column work. A long row goes straight to the
    -- per-column check, which does its own (bounded) filtering.
    IF pg_catalog.octet_length(new_row::text) <= 8192 AND NOT @schema@.plaintext_credential_candidate(new_row::text) THEN
        RETURN NEW;
    END IF;

    FOR col, val IN
        SELECT n.key, n.value
          FROM pg_catalog.json_each_text(new_row) AS n
          LEFT JOIN pg_catalog.json_each_text(old_row) AS o ON o.key OPERATOR(pg_catalog.=) n.key
         WHERE n.value IS NOT NULL
           AND (old_row IS NULL OR n.value IS DISTINCT FROM o.value)
    LOOP
        IF col ~* name_re THEN
            kind := @schema@.plaintext_credential_kind(col || '=' || val);
        ELSIF pg_catalog.length(val) < 8 OR val ~ '^[0-9a-fA-F-]+$' THEN
            -- numbers, ids and hashes without a credential-like name match no detector
            CONTINUE;
        ELSE
            kind := @schema@.plaintext_credential_kind(val);
        END IF;
        IF kind IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'VA001',
                MESSAGE = pg_catalog.format('plaintext credential rejected: column %I of %I.%I holds what looks like a plaintext credential (%s)',
                                            col, TG_TABLE_SCHEMA, TG_TABLE_NAME, kind),
                -- dollar-quoted: the schema's quoted name may hold a quote
                HINT = $hint$keep only a Vault secret id here: store the value with the Go client (Client.Store or Client.Put) or with the SQL function @schema@.store_credential(), and save the id it returns$hint$;
        END IF;
    END LOOP;

    RETURN NEW;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.reject_plaintext_credentials() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.reject_plaintext_credentials() IS
'Trigger function of the plaintext guard. BEFORE INSERT OR UPDATE FOR EACH ROW it raises SQLSTATE VA001 when a column of the new row (on UPDATE: a changed column) looks like a plaintext credential, including string leaves of json/jsonb values, JSON documents stored as text and columns of any type (read through their output function, never a cast of the table owner). AFTER INSERT OR UPDATE FOR EACH ROW it checks the stored row again when a later BEFORE trigger or a stored generated column may have changed it. The error names the column and the kind of credential, never the value. SECURITY DEFINER with a pinned search_path, executable by the owner only; attach it with guard_plaintext_credentials().';
