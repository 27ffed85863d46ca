-- 0005: plaintext guard hardening.
--
-- Replaces the guard of 0002 (same entry point guard_plaintext_credentials,
-- same SQLSTATE VA001, a message naming column and kind, never the value,
-- now phrased for every label, and a hint naming the Go and SQL routes):
--
-- * Bounded work. Provider formats are rows of plaintext_guard_rules(); each
--   is a regular expression without backreferences or nested quantifiers
--   whose lengths are the minimum a match needs. A value is decoded and
--   searched for the rules' anchors with a few linear passes; then only the
--   rules whose anchors occur run, over windows of 16384 bytes that overlap
--   by 2048 bytes, so each expression reads a bounded text while a
--   credential anywhere in a long value still lies whole in some window.
--   Tokens are checked on their first 256 characters. The work of a value
--   is capped: the rule scans it would need (rejected before any scan when
--   over 20 times its length, plus every rule on one window), distinct
--   anchors (24, in values longer than a window) and rule matches examined
--   and dismissed (128); a value over a cap is rejected (VA001, kind "value
--   the guard cannot check within its limits"). Assignments, headers and
--   URLs with credentials are examined up to 128 per value.
-- * The row as stored. A second trigger, AFTER INSERT OR UPDATE, checks the
--   row again when something may have changed it after the BEFORE check:
--   another BEFORE trigger whose name sorts after the guard's, a stored
--   generated column, or a disabled BEFORE trigger. Otherwise it returns
--   after one catalog query. The BEFORE check stays the main one: a value it
--   rejects never reaches the table or its WAL.
-- * Every column type. Columns whose type is not built in (extension types
--   such as citext and hstore, enums, composites, arrays of domains, domains
--   over domains) are read through their type's output function, which only
--   a superuser can define; never through a cast or to_json(), which the
--   table's owner could supply.
-- * Inheritance. guard_plaintext_credentials() also guards the table's
--   inheritance children (partitions get the triggers from PostgreSQL).
-- * guard_trigger_creators() and guard_coverage_gaps() let `credvault
--   doctor` report who may create triggers on guarded tables and which
--   guarded tables lack part of the guard.
-- * Rules fixed: Sentry tokens (the pattern read "sntr[ysu]_", which no
--   "sntrys_" or "sntryu_" token matches), HubSpot tokens of the ap region
--   and GitLab tokens other than glpat-, gldt- and glrt- (their prefixes
--   were missing from the prefilter), Slack rotating and refresh tokens
--   (xoxe.xoxp-1-..., xoxe-1-...) and Doppler service tokens with a config
--   segment (dp.st.prd....).

-- The rule table: one row per credential format.
--   anchors  literal substrings (lower case for case-insensitive rules); the
--            rule is tried only on windows containing one of them. NULL:
--            tried on windows that contain a run of 20 letters or digits.
--   pattern  a regular expression (ARE) without capture groups,
--            backreferences or nested quantifiers; lengths are the minimum
--            a match needs, so a match is short whatever follows it.
--   before / after   characters that may not precede / follow a match
--            (bracket expression contents, '' for none), checked on the
--            text as written but not once whitespace is removed.
--   flags    i: case-insensitive; r: the token must look random; d: the
--            first segment must be the base64 of a numeric Discord user id;
--            w: weak anchor, the window must also hold a run of 20 letters
--            or digits.
--   source   where the format is documented.
CREATE OR REPLACE FUNCTION @schema@.plaintext_guard_rules()
RETURNS TABLE (rule integer, label text, anchors text[], pattern text, before text, after text, flags text, source text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT r.* FROM (VALUES
    (1, 'AWS access key id', ARRAY['AKIA', 'ASIA', 'ABIA', 'ACCA'], $re$(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids'),
    (2, 'GitHub token', ARRAY['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], $re$gh[pousr]_[A-Za-z0-9]{36}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats'),
    (3, 'GitHub token', ARRAY['github_pat_'], $re$github_pat_[A-Za-z0-9_]{50}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats'),
    (4, 'GitLab token', ARRAY['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'gloas-', 'glimt-', 'glsoat-', 'glffct-', 'glagent-', 'glft-', 'glwt-'],
        $re$gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ffct|agent|ft|wt)-[A-Za-z0-9_.-]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.gitlab.com/ee/security/tokens/#token-prefixes'),
    (5, 'GitLab token', ARRAY['GR1348941'], $re$GR1348941[A-Za-z0-9_-]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.gitlab.com/ee/security/tokens/#token-prefixes'),
    (6, 'Stripe secret key', ARRAY['sk_live_', 'sk_test_'], $re$sk_(?:live|test)_[A-Za-z0-9]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.stripe.com/keys'),
    (7, 'Stripe restricted key', ARRAY['rk_live_', 'rk_test_'], $re$rk_(?:live|test)_[A-Za-z0-9]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.stripe.com/keys#limit-access'),
    (8, 'Stripe webhook secret', ARRAY['whsec_'], $re$whsec_[A-Za-z0-9+/=]{24}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.stripe.com/webhooks#verify-official-libraries'),
    (9, 'Slack token', ARRAY['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-', 'xoxe-'],
        $re$xox[abposre]-(?:[0-9A-Za-z]{8,}-[0-9A-Za-z-]{10}|[0-9]-[0-9A-Za-z-]{40})$re$, 'A-Za-z0-9+/_-', '', '',
        'https://api.slack.com/authentication/token-types'),
    (10, 'Slack token', ARRAY['xapp-'], $re$xapp-[0-9]-[0-9A-Za-z-]{24}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://api.slack.com/authentication/token-types#app-level'),
    (11, 'Slack webhook URL', ARRAY['hooks.slack.com/'], $re$hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20}$re$, '', '', '',
        'https://api.slack.com/messaging/webhooks'),
    (12, 'Google API key', ARRAY['AIza'], $re$AIza[0-9A-Za-z_-]{35}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9_-', '',
        'https://cloud.google.com/docs/authentication/api-keys'),
    (13, 'Google OAuth client secret', ARRAY['GOCSPX-'], $re$GOCSPX-[0-9A-Za-z_-]{24}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developers.google.com/identity/protocols/oauth2'),
    (14, 'Google OAuth access token', ARRAY['ya29.'], $re$ya29\.[0-9A-Za-z_.-]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developers.google.com/identity/protocols/oauth2'),
    (15, 'Anthropic API key', ARRAY['sk-ant-'], $re$sk-ant-(?:api|admin|sid|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{32}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.anthropic.com/en/api/overview#authentication'),
    (16, 'OpenAI API key', ARRAY['sk-proj-', 'sk-svcacct-', 'sk-admin-', 'sk-None-'], $re$sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://platform.openai.com/docs/api-reference/authentication'),
    (17, 'OpenAI API key', ARRAY['sk-'], $re$sk-(?:[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://platform.openai.com/docs/api-reference/authentication'),
    (18, 'Twilio API key SID', ARRAY['SK'], $re$SK[0-9a-f]{32}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'rw',
        'https://www.twilio.com/docs/iam/api-keys'),
    (19, 'SendGrid API key', ARRAY['SG.'], $re$SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9_-', '',
        'https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys'),
    (20, 'Mailgun API key', ARRAY['key-'], $re$key-[0-9a-z]{32}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'rw',
        'https://documentation.mailgun.com/docs/mailgun/api-reference/authentication'),
    (21, 'npm token', ARRAY['npm_'], $re$npm_[A-Za-z0-9]{36}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/'),
    (22, 'PyPI token', ARRAY['pypi-AgEI'], $re$pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://pypi.org/help/#apitoken'),
    (23, 'Shopify access token', ARRAY['shpat_', 'shpss_', 'shpca_', 'shppa_'], $re$shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens'),
    (24, 'HubSpot private app token', ARRAY['pat-na', 'pat-eu', 'pat-ap'],
        $re$pat-(?:na|eu|ap)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developers.hubspot.com/docs/api/private-apps'),
    (25, 'Atlassian API token', ARRAY['ATATT3', 'ATCTT3'], $re$AT[AC]TT3[A-Za-z0-9_=+/-]{60}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account/'),
    (26, 'DigitalOcean token', ARRAY['dop_v1_', 'doo_v1_', 'dor_v1_'], $re$do[por]_v1_[a-f0-9]{64}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://docs.digitalocean.com/reference/api/create-personal-access-token/'),
    (27, 'Heroku API key', ARRAY['HRKU-'], $re$HRKU-[A-Za-z0-9_-]{50}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://devcenter.heroku.com/articles/authentication'),
    (28, 'Square access token', ARRAY['EAAA'], $re$EAAA[A-Za-z0-9_-]{60}$re$, 'A-Za-z0-9+/_-', '', 'r',
        'https://developer.squareup.com/docs/build-basics/access-tokens'),
    (29, 'Square OAuth secret', ARRAY['sq0csp-', 'sq0atp-'], $re$sq0(?:csp|atp)-[A-Za-z0-9_-]{22}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developer.squareup.com/docs/build-basics/access-tokens'),
    (30, 'Discord bot token', NULL, $re$[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}$re$, 'A-Za-z0-9+/_-', '', 'd',
        'https://discord.com/developers/docs/reference#authentication'),
    (31, 'Telegram bot token', ARRAY[':AA'], $re$[0-9]{8,10}:AA[A-Za-z0-9_-]{33}$re$, '0-9', 'A-Za-z0-9_-', '',
        'https://core.telegram.org/bots/api#authorizing-your-bot'),
    (32, 'JWT', ARRAY['eyJ'], $re$eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://datatracker.ietf.org/doc/html/rfc7519#section-3'),
    (33, 'Hugging Face token', ARRAY['hf_'], $re$hf_[A-Za-z0-9]{34}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://huggingface.co/docs/hub/security-tokens'),
    (34, 'Linear API key', ARRAY['lin_api_'], $re$lin_api_[A-Za-z0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://developers.linear.app/docs/graphql/working-with-the-graphql-api#personal-api-keys'),
    (35, 'Postman API key', ARRAY['PMAK-'], $re$PMAK-[a-f0-9]{24}-[a-f0-9]{34}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://learning.postman.com/docs/developer/postman-api/authentication/'),
    (36, 'Notion token', ARRAY['ntn_'], $re$ntn_[A-Za-z0-9]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://developers.notion.com/docs/authorization'),
    (37, 'Notion token', ARRAY['secret_'], $re$secret_[A-Za-z0-9]{43}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://developers.notion.com/docs/authorization'),
    (38, 'Databricks token', ARRAY['dapi'], $re$dapi[a-f0-9]{32}(?:-[0-9])?$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://docs.databricks.com/en/dev-tools/auth/pat.html'),
    (39, 'Doppler token', ARRAY['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.', 'dp.scim.', 'dp.audit.'],
        $re$dp\.(?:pt|st(?:\.[a-z0-9_-]{1,40})?|sa|ct|scim|audit)\.[A-Za-z0-9]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.doppler.com/reference/api#authentication'),
    (40, 'New Relic API key', ARRAY['NRAK-'], $re$NRAK-[A-Z0-9]{27}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys/'),
    (41, 'Supabase secret key', ARRAY['sbp_'], $re$sbp_[a-f0-9]{40}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', '',
        'https://supabase.com/docs/guides/platform/access-control'),
    (42, 'Supabase secret key', ARRAY['sb_secret_'], $re$sb_secret_[A-Za-z0-9_-]{20}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://supabase.com/docs/guides/api/api-keys'),
    (43, 'Grafana token', ARRAY['glsa_'], $re$glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://grafana.com/docs/grafana/latest/administration/service-accounts/'),
    (44, 'Grafana token', ARRAY['glc_'], $re$glc_[A-Za-z0-9+/]{32}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://grafana.com/docs/grafana-cloud/account-management/authentication-and-permissions/access-policies/'),
    (45, 'Sentry token', ARRAY['sntrys_', 'sntryu_'], $re$sntry[su]_[A-Za-z0-9+/=_.-]{40}$re$, 'A-Za-z0-9+/_-', '', '',
        'https://docs.sentry.io/account/auth-tokens/'),
    (46, 'Airtable token', ARRAY['pat'], $re$pat[A-Za-z0-9]{14}\.[a-f0-9]{64}$re$, 'A-Za-z0-9+/_-', 'A-Za-z0-9', 'w',
        'https://airtable.com/developers/web/guides/personal-access-tokens'),
    (47, 'Mailchimp API key', ARRAY['-us'], $re$[0-9a-f]{32}-us[0-9]{1,2}$re$, 'A-Za-z0-9', 'A-Za-z0-9', 'rw',
        'https://mailchimp.com/developer/marketing/guides/quick-start/'),
    (48, 'Azure AD client secret', ARRAY['Q~'], $re$[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}$re$, 'A-Za-z0-9_~.-', 'A-Za-z0-9_~.-', '',
        'https://learn.microsoft.com/en-us/purview/sit-defn-client-secret-api-key'),
    (49, 'age secret key', ARRAY['AGE-SECRET-KEY-1'], $re$AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$re$, '', '', '',
        'https://age-encryption.org/v1'),
    (50, 'private key (PEM)', ARRAY['private'],
        $re$-----\s*begin[ a-z0-9_-]*private\s*key(?:\s*block)?\s*-----[^-]*[a-z0-9+/]{40}$re$, '', '', 'i',
        'https://datatracker.ietf.org/doc/html/rfc7468'),
    (51, 'Azure storage account key', ARRAY['accountkey'], $re$accountkey\s*=\s*[a-z0-9+/]{40}$re$, '', '', 'i',
        'https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string'),
    (52, 'Azure SAS signature', ARRAY['sig='], $re$[?&;]sig=[a-z0-9%+/]{30}$re$, '', '', 'i',
        'https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas'),
    (53, 'Heroku API key', ARRAY['heroku'],
        $re$heroku[a-z0-9_.-]{0,40}(?:key|token)["'\\]{0,3}\s*[:=]\s*["'\\]{0,3}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$re$,
        '', '', 'i', 'https://devcenter.heroku.com/articles/platform-api-quickstart#authentication'),
    (54, 'AWS secret access key', ARRAY['aws'],
        $re$aws[a-z0-9_.-]{0,40}secret[a-z0-9_.-]{0,40}["'\\]{0,3}\s*[:=]\s*["'\\]{0,3}[a-z0-9/+]{40}$re$, '', 'a-z0-9/+', 'i',
        'https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html')
) AS r(rule, label, anchors, pattern, before, after, flags, source)
ORDER BY r.rule
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_rules() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_rules() IS
'The plaintext guard''s credential formats, one row each: label (the kind named in VA001 errors), anchors, pattern, the characters that may not precede or follow a match, flags and the public source of the format. Adding a format is adding a row. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- The rule table in the shape the guard uses, derived once per session: the
-- guard calls this with constant arguments, so PostgreSQL evaluates it when
-- it plans the call, not on every row.
CREATE OR REPLACE FUNCTION @schema@.plaintext_guard_rule_column(p_column text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH r AS (
    SELECT r.*, pg_catalog.row_number() OVER (ORDER BY r.rule) AS i
      FROM @schema@.plaintext_guard_rules() AS r
), g AS (
    SELECT r.i, a.lit, r.flags
      FROM r LEFT JOIN LATERAL pg_catalog.unnest(r.anchors) AS a(lit) ON true
), l AS (
    SELECT d.lit, d.ci, d.weak, pg_catalog.regexp_replace(d.lit, '([^A-Za-z0-9_ ])', '\\\1', 'g') AS esc,
           pg_catalog.row_number() OVER (PARTITION BY d.ci ORDER BY d.lit) AS n
      FROM (SELECT g.lit, pg_catalog.bool_or(pg_catalog.strpos(g.flags, 'i') OPERATOR(pg_catalog.>) 0) AS ci,
                   pg_catalog.bool_and(pg_catalog.strpos(g.flags, 'w') OPERATOR(pg_catalog.>) 0) AS weak
              FROM g WHERE g.lit IS NOT NULL GROUP BY g.lit) AS d
)
SELECT CASE p_column
    WHEN 'strict' THEN (SELECT pg_catalog.array_agg(
            CASE WHEN r.before OPERATOR(pg_catalog.<>) '' THEN '(?<![' OPERATOR(pg_catalog.||) r.before OPERATOR(pg_catalog.||) '])' ELSE '' END
            OPERATOR(pg_catalog.||) '(?:' OPERATOR(pg_catalog.||) r.pattern OPERATOR(pg_catalog.||) ')'
            OPERATOR(pg_catalog.||) CASE WHEN r.after OPERATOR(pg_catalog.<>) '' THEN '(?![' OPERATOR(pg_catalog.||) r.after OPERATOR(pg_catalog.||) '])' ELSE '' END
            ORDER BY r.i) FROM r)
    WHEN 'loose' THEN (SELECT pg_catalog.array_agg(r.pattern ORDER BY r.i) FROM r)
    WHEN 'label' THEN (SELECT pg_catalog.array_agg(r.label ORDER BY r.i) FROM r)
    WHEN 'flags' THEN (SELECT pg_catalog.array_agg(r.flags ORDER BY r.i) FROM r)
    WHEN 'gate_literal' THEN (SELECT pg_catalog.array_agg(g.lit ORDER BY g.i, g.lit) FROM g)
    WHEN 'gate_rule' THEN (SELECT pg_catalog.array_agg(g.i::text ORDER BY g.i, g.lit) FROM g)
    -- the anchors as regular expressions: the case-sensitive ones of rules
    -- that need no run of 20 letters or digits ('anchor_cs', for the
    -- prefilter, which looks for such runs itself), all case-sensitive ones
    -- in groups of at most 48 with a capture group ('anchor_groups':
    -- PostgreSQL scans random text faster with two medium unions than with
    -- one large one or many small ones), and the case-insensitive ones
    -- ('anchor_ci')
    WHEN 'anchor_cs' THEN ARRAY[(SELECT pg_catalog.string_agg(l.esc, '|' ORDER BY l.lit) FROM l WHERE NOT l.ci AND NOT l.weak)]
    WHEN 'anchor_groups' THEN (SELECT pg_catalog.array_agg(q.re ORDER BY q.grp) FROM (
            SELECT (l.n OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 48 AS grp,
                   '(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(l.esc, '|' ORDER BY l.lit) OPERATOR(pg_catalog.||) ')' AS re
              FROM l WHERE NOT l.ci GROUP BY 1) AS q)
    WHEN 'anchor_ci' THEN ARRAY[(SELECT '(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(l.esc, '|' ORDER BY l.lit) OPERATOR(pg_catalog.||) ')' FROM l WHERE l.ci)]
END
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_guard_rule_column(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_guard_rule_column(text) IS
'One column of plaintext_guard_rules() as an array in rule order (strict and loose regular expressions, labels, flags, anchors and the rules they gate, and the anchors as one regular expression), for the guard''s own use. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

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
    pf_cs CONSTANT text := (@schema@.plaintext_guard_rule_column('anchor_cs'))[1] || $re$|\\u|\\/$re$;
    pf_ci CONSTANT text := (@schema@.plaintext_guard_rule_column('anchor_ci'))[1]
        || $re$|private[ _]?key|authorization|bearer\s|basic\s|://[^\s/@]*:[^\s/@]*@|(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)[^a-z0-9_.-]{0,3}[=:]$re$;
    pf_run CONSTANT text := '[A-Za-z0-9]{20}';
    x text;
BEGIN
    -- A value none of these matches, as-is or with line breaks (raw or
    -- JSON-escaped) removed, is not a credential. They are kept apart
    -- because PostgreSQL runs three small regular expressions much faster
    -- than their union.
    IF p_value ~ pf_run OR p_value ~* pf_ci OR p_value ~ pf_cs THEN
        RETURN true;
    END IF;
    x := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
             p_value, pg_catalog.chr(9), ''), pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), '\n', ''), '\r', ''), '\t', '');
    RETURN x <> p_value AND (x ~ pf_run OR x ~ pf_cs);
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_credential_candidate(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_credential_candidate(text) IS
'Cheap prefilter of the plaintext guard: false when the value cannot contain any credential plaintext_credential_kind() detects. Its anchors come from plaintext_guard_rules(). SECURITY DEFINER with a pinned search_path, executable by the owner only.';

CREATE OR REPLACE FUNCTION @schema@.plaintext_credential_kind(p_value text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Limits. A window is the text one rule's regular expression reads at
    -- once; neighbouring windows overlap by more than the longest fragment
    -- the guard reports (a token, a name = value pair, a PEM header and the
    -- start of its body), so each such fragment lies whole in some window.
    win CONSTANT integer := 16384;          -- bytes
    overlap CONSTANT integer := 2048;       -- bytes
    tok_max CONSTANT integer := 256;        -- characters of a token or value that checks read
    scan_passes CONSTANT integer := 20;     -- rule scans per value: this many times its length, plus every rule on one window
    anchor_budget CONSTANT integer := 24;   -- distinct anchors looked up per value longer than a window
    frag_budget CONSTANT integer := 128;    -- rule matches examined and dismissed per value
    ctx_budget CONSTANT integer := 128;     -- assignments, headers and URLs examined per value
    escape_budget CONSTANT integer := 32;   -- distinct \u00XX escapes decoded per value
    too_costly CONSTANT text := 'value the guard cannot check within its limits';

    -- The rule table, evaluated when this function is planned.
    strict_re CONSTANT text[] := @schema@.plaintext_guard_rule_column('strict');
    loose_re CONSTANT text[] := @schema@.plaintext_guard_rule_column('loose');
    labels CONSTANT text[] := @schema@.plaintext_guard_rule_column('label');
    flags CONSTANT text[] := @schema@.plaintext_guard_rule_column('flags');
    gate_lit CONSTANT text[] := @schema@.plaintext_guard_rule_column('gate_literal');
    gate_rule CONSTANT integer[] := @schema@.plaintext_guard_rule_column('gate_rule')::integer[];
    anchor_groups CONSTANT text[] := @schema@.plaintext_guard_rule_column('anchor_groups');
    anchor_ci CONSTANT text := (@schema@.plaintext_guard_rule_column('anchor_ci'))[1];

    -- Context detectors, tried on the text as written (case-insensitive).
    -- name = value, "name": "value", Name: value for credential-like
    -- names: the credential word and separator; the value follows
    kw_re CONSTANT text := $re$(api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?|auth)[^a-z0-9_.-]{0,3}(?:=>|:=|=|:|>)$re$;
    value_re CONSTANT text := $re$^\s*["'\\]{0,3}([^\s"'`,;&<>{}()\[\]\\|]+)$re$;
    a_pf CONSTANT text := $re$(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)[^a-z0-9_.-]{0,3}[=:>]$re$;
    -- scheme://user:password@host (the scheme is left out: it only makes
    -- each match costlier to find)
    u_re CONSTANT text := $re$://[^\s/?#@:"'<>\\]*:([^\s/?@"'<>\\]+)@[a-z0-9\[]$re$;
    -- any word a context detector needs
    ctx_re CONSTANT text := 'authorization|bearer|basic|://|' || a_pf;
    -- Authorization header: "authorization:" is matched (short matches are
    -- cheap to find) and its value read from the text after it; a Bearer or
    -- Basic credential anywhere
    hdr_re CONSTANT text := $re$authorization["'\\]{0,3}\s*[:=]$re$;
    hdr_value_re CONSTANT text := $re$^\s*["'\\]{0,3}(?:(bearer|basic|token|bot|apikey|api-key|key|sso-key)\s+)?([a-z0-9._~+/-]{8,}=*)$re$;
    scheme_re CONSTANT text := $re$(?:^|[^a-z0-9_-])(bearer|basic)\s+([a-z0-9._~+/-]{8,}=*)$re$;

    placeholder_re CONSTANT text := $re$^(?:[*x.#?_-]+|0+|none|null|nil|undefined|true|false|empty|redacted|removed|hidden|masked|changeme|change[_-]?me|placeholder|example|sample|dummy|test|todo|tbd|n/a|secret|password|passwd|pass|pwd|token|(?:your|my|the)[_-].*|.*[_-]here|[$%{<\[].*|.*\*{3,}.*|.*x{6,}.*|.*(?:example|redacted|placeholder|changeme).*|(?:env|file|vault|secret|secrets|ssm|awssm|secretsmanager|gsm|gcp|azure|kv|keyvault|op|doppler|infisical|arn|ref|secretref|sm)[:/].*|projects/.*|[a-z][a-z0-9+.-]*://.*|[0-9]{4}-[0-9]{2}-[0-9]{2}.*|v?[0-9]+(?:\.[0-9]+){1,3}(?:[-+].*)?|[^@\s]+@[^@\s]+\.[a-z]{2,})$$re$;
    uuid_re CONSTANT text := $re$^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$$re$;
    -- Obvious placeholders inside a token: a character repeated 8 times
    -- (spelled out: no backreference), counting runs and example words.
    dummy_re CONSTANT text := 'EXAMPLE|[Ee]xample|0123456789|abcdefghij|ABCDEFGHIJ|\*{8}|-{8}|_{8}|\.{8}|={8}|#{8}|'
        'A{8}|B{8}|C{8}|D{8}|E{8}|F{8}|G{8}|H{8}|I{8}|J{8}|K{8}|L{8}|M{8}|N{8}|O{8}|P{8}|Q{8}|R{8}|S{8}|T{8}|U{8}|V{8}|W{8}|X{8}|Y{8}|Z{8}|a{8}|b{8}|c{8}|d{8}|'
        'e{8}|f{8}|g{8}|h{8}|i{8}|j{8}|k{8}|l{8}|m{8}|n{8}|o{8}|p{8}|q{8}|r{8}|s{8}|t{8}|u{8}|v{8}|w{8}|x{8}|y{8}|z{8}|0{8}|1{8}|2{8}|3{8}|4{8}|5{8}|6{8}|7{8}|8{8}|9{8}';

    x text;             -- the value with JSON string escapes decoded
    lx text;            -- x without whitespace
    y text;
    present integer[] := ARRAY[]::integer[];  -- rules whose anchor occurs
    has_run boolean;
    ctx_url boolean;
    ctx_header boolean;
    ctx_assign boolean;
    loose boolean;
    cur text[];
    wins text[] := ARRAY[]::text[];
    lwins text[] := ARRAY[]::text[];
    cost bigint;
    n integer;
    mode text;
    bytes bytea;
    enc name := pg_catalog.getdatabaseencoding();
    frags_left integer := frag_budget;
    from_pos integer;   -- where the next match of a rule in a window starts, at the earliest
    ctx_left integer := ctx_budget;
    s integer;
    e integer;
    w text;
    grp text;
    grp_i integer;
    j integer;
    k integer;
    m text[];
    tok text;
    nm text;
    val text;
    alnum integer;
    runs integer;
    ok boolean;
    b bytea;
    cand_vals text[];
    cand_kinds text[];
    kws text[];
    pieces text[];
    re text;
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) < 8 THEN
        RETURN NULL;
    END IF;
    -- A value of one window that the prefilter clears has no credential;
    -- longer values get the bounded checks below without it.
    IF pg_catalog.octet_length(p_value) <= win AND NOT @schema@.plaintext_credential_candidate(p_value) THEN
        RETURN NULL;
    END IF;

    -- 1. JSON string escapes, with plain replace() (linear, no per-match
    -- work): runs of backslashes are collapsed first so that escapes of
    -- escapes (a JSON document inside a JSON string) decode too; \u00XX
    -- escapes of printable characters are decoded, one distinct escape at a
    -- time; line breaks and tabs become spaces; other backslashes go.
    x := p_value;
    IF pg_catalog.strpos(x, '\') > 0 THEN
        WHILE pg_catalog.strpos(x, '\\') > 0 LOOP
            x := pg_catalog.replace(x, '\\', '\');
        END LOOP;
        FOR k IN 1..escape_budget LOOP
            m := pg_catalog.regexp_match(x, '\\u00([2-7][0-9A-Fa-f])');
            EXIT WHEN m IS NULL;
            x := pg_catalog.replace(x, '\u00' || m[1], pg_catalog.chr(pg_catalog.get_byte(pg_catalog.decode(m[1], 'hex'), 0)));
        END LOOP;
        x := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                 x, '\n', ' '), '\r', ' '), '\t', ' '), '\', '');
    END IF;

    -- 2. The text without whitespace, for a key split across lines.
    lx := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
              x, ' ', ''), pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), pg_catalog.chr(9), ''), pg_catalog.chr(11), ''), pg_catalog.chr(12), '');

    -- 3. Which rules can match anywhere: the anchors that occur in lx (a
    -- superset of those in x). Each anchor group is searched for its first
    -- anchor, whose occurrences are then removed before the next search, so
    -- the work grows with the number of distinct anchors present, not with
    -- their occurrences.
    has_run := lx ~ '[A-Za-z0-9]{20}';
    k := 0;
    FOR grp_i IN 1..pg_catalog.cardinality(anchor_groups) + 1 LOOP
        -- the last group holds the case-insensitive anchors; occurrences
        -- are removed as written, so each spelling counts as an anchor
        grp := CASE WHEN grp_i > pg_catalog.cardinality(anchor_groups) THEN anchor_ci ELSE anchor_groups[grp_i] END;
        y := lx;
        LOOP
            m := pg_catalog.regexp_match(y, grp, CASE WHEN grp_i > pg_catalog.cardinality(anchor_groups) THEN 'i' ELSE '' END);
            EXIT WHEN m IS NULL;
            k := k + 1;
            -- one window's worth of text may name every provider (say, a
            -- note listing key prefixes); a longer one is held to the budget
            IF k > anchor_budget AND pg_catalog.octet_length(lx) > win THEN
                RETURN too_costly;
            END IF;
            present := present || ARRAY(SELECT g.r FROM ROWS FROM (pg_catalog.unnest(gate_lit), pg_catalog.unnest(gate_rule)) AS g(lit, r)
                                         WHERE g.lit IN (m[1], pg_catalog.lower(m[1]))
                                           AND (has_run OR pg_catalog.strpos(flags[g.r], 'w') = 0));
            y := pg_catalog.replace(y, m[1], '');
        END LOOP;
    END LOOP;
    IF has_run THEN
        present := present || ARRAY(SELECT g.r FROM ROWS FROM (pg_catalog.unnest(gate_lit), pg_catalog.unnest(gate_rule)) AS g(lit, r)
                                     WHERE g.lit IS NULL);
    END IF;
    -- the words the context detectors need, in one pass, then each
    ctx_url := false;
    ctx_header := false;
    ctx_assign := false;
    IF x ~* ctx_re THEN
        ctx_url := pg_catalog.strpos(x, '://') > 0 AND pg_catalog.strpos(x, '@') > 0;
        ctx_header := x ~* 'authorization|bearer|basic';
        ctx_assign := x ~* a_pf;
    END IF;
    present := ARRAY(SELECT DISTINCT p.r FROM pg_catalog.unnest(present) AS p(r) ORDER BY 1);
    IF pg_catalog.cardinality(present) = 0 AND NOT (ctx_url OR ctx_header OR ctx_assign) THEN
        RETURN NULL;
    END IF;

    -- 4. The work the scans below will do is known now: a value that needs
    -- more than the budget is rejected before any of it.
    cost := pg_catalog.cardinality(present)::bigint * (pg_catalog.octet_length(x)
            + CASE WHEN pg_catalog.octet_length(lx) < pg_catalog.octet_length(x) THEN pg_catalog.octet_length(lx) ELSE 0 END);
    IF cost > scan_passes::bigint * pg_catalog.octet_length(x) + 2 * pg_catalog.cardinality(labels) * win THEN
        RETURN too_costly;
    END IF;

    -- 5. Windows of the text as written (rules with their boundaries, and
    -- the context detectors), cut by byte offset: substr() counts
    -- characters from the start on every call, which would make long values
    -- quadratic. Each window that has whitespace also gets a copy without
    -- it (rules without boundaries, on random-looking tokens only).
    n := pg_catalog.octet_length(x);
    IF n <= win THEN
        mode := 'one';
    ELSIF enc = 'UTF8' THEN
        mode := 'utf8';
    ELSIF pg_catalog.pg_encoding_max_length(pg_catalog.pg_char_to_encoding(enc)) = 1 THEN
        mode := 'bytes';
    ELSE
        mode := 'chars';
        n := pg_catalog.length(x);
    END IF;
    IF mode IN ('utf8', 'bytes') THEN
        bytes := pg_catalog.textsend(x);
    END IF;
    s := 0;
    LOOP
        IF mode = 'one' THEN
            w := x;
        ELSIF mode = 'chars' THEN
            w := pg_catalog.substr(x, s + 1, win);
        ELSE
            e := LEAST(s + win, n);
            IF mode = 'utf8' THEN
                -- start and end on character boundaries, not on a continuation byte
                WHILE s > 0 AND s < n AND (pg_catalog.get_byte(bytes, s) & 192) = 128 LOOP
                    s := s + 1;
                END LOOP;
                WHILE e < n AND e > s AND (pg_catalog.get_byte(bytes, e) & 192) = 128 LOOP
                    e := e - 1;
                END LOOP;
            END IF;
            w := pg_catalog.convert_from(pg_catalog.substr(bytes, s + 1, e - s), enc);
        END IF;
        wins := wins || w;
        y := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                 w, ' ', ''), pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), pg_catalog.chr(9), ''), pg_catalog.chr(11), ''), pg_catalog.chr(12), '');
        lwins := lwins || CASE WHEN pg_catalog.octet_length(y) < pg_catalog.octet_length(w) THEN y END;
        EXIT WHEN mode = 'one' OR s + win >= n;
        s := s + win - overlap;
    END LOOP;

    FOR pass IN 1..2 LOOP
        loose := pass = 2;
        cur := CASE WHEN loose THEN lwins ELSE wins END;
        -- 5a. the rule table, one rule at a time over all windows (so that
        -- its compiled expression stays in PostgreSQL's small cache)
        FOREACH j IN ARRAY present LOOP
            re := CASE WHEN loose THEN loose_re[j] ELSE strict_re[j] END;
            FOREACH w IN ARRAY cur LOOP
                -- a plain match first: most windows have none, and it is cheaper
                CONTINUE WHEN w IS NULL OR CASE WHEN pg_catalog.strpos(flags[j], 'i') > 0 THEN w !~* re ELSE w !~ re END;
                from_pos := 1;
                FOR m IN SELECT pg_catalog.regexp_matches(w, re,
                                                          CASE WHEN pg_catalog.strpos(flags[j], 'i') > 0 THEN 'gi' ELSE 'g' END) LOOP
                    tok := pg_catalog.left(m[1], tok_max);
                    ok := pg_catalog.strpos(flags[j], 'i') > 0 OR tok !~ dummy_re;
                    IF ok AND loose THEN
                        -- A match is as short as the format allows, so the
                        -- token is judged with the letters and digits that
                        -- follow it (up to tok_max): a random token's digits
                        -- may all lie past its first characters. Matches come
                        -- in order, so the first occurrence of this one from
                        -- the end of the previous one is this one.
                        k := pg_catalog.strpos(pg_catalog.substr(w, from_pos), m[1]) + from_pos - 1;
                        from_pos := k + pg_catalog.length(m[1]);
                        tok := pg_catalog.left(tok || COALESCE((pg_catalog.regexp_match(
                                   pg_catalog.substr(w, from_pos, tok_max), '^[A-Za-z0-9]+'))[1], ''), tok_max);
                    END IF;
                    IF ok AND (loose OR pg_catalog.strpos(flags[j], 'r') > 0) THEN
                        nm := pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g');
                        alnum := pg_catalog.length(nm);
                        runs := pg_catalog.length(pg_catalog.regexp_replace(nm, '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                        ok := runs >= GREATEST(3, alnum / 6);
                    END IF;
                    IF ok AND loose THEN
                        -- text joined across whitespace must hold a digit and a letter
                        ok := tok ~ '[0-9]' AND (pg_catalog.strpos(flags[j], 'i') > 0 OR tok ~ '[A-Za-z]');
                    END IF;
                    IF ok AND pg_catalog.strpos(flags[j], 'd') > 0 THEN
                        -- the first segment is the base64 of a numeric user id
                        nm := pg_catalog.translate(pg_catalog.split_part(tok, '.', 1), '-_', '+/');
                        ok := pg_catalog.length(nm) % 4 <> 1;
                        IF ok THEN
                            nm := nm || pg_catalog.repeat('=', (4 - pg_catalog.length(nm) % 4) % 4);
                            ok := pg_catalog.encode(pg_catalog.decode(nm, 'base64'), 'escape') ~ '^[0-9]{15,21}$';
                        END IF;
                    END IF;
                    IF ok THEN
                        RETURN labels[j];
                    END IF;
                    frags_left := frags_left - 1;
                    IF frags_left < 0 THEN
                        RETURN too_costly;
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END LOOP;

    -- 6. Context detectors, on the windows of the text as written.
    FOREACH w IN ARRAY CASE WHEN ctx_url OR ctx_header OR ctx_assign THEN wins ELSE ARRAY[]::text[] END LOOP
        EXIT WHEN ctx_left <= 0;
        -- 6a. URL with an inline password
        IF ctx_url AND pg_catalog.strpos(w, '://') > 0 THEN
            FOR m IN SELECT pg_catalog.regexp_matches(w, u_re, 'gi') LOOP
                val := pg_catalog.left(m[1], tok_max);
                IF pg_catalog.length(val) >= 4 AND val !~* placeholder_re THEN
                    RETURN 'URL with embedded password';
                END IF;
                ctx_left := ctx_left - 1;
                EXIT WHEN ctx_left <= 0;
            END LOOP;
        END IF;

        -- 6b. Authorization header, Bearer / Basic credentials
        cand_vals := ARRAY[]::text[];
        cand_kinds := ARRAY[]::text[];
        IF ctx_header AND ctx_left > 0 THEN
            pieces := pg_catalog.regexp_split_to_array(w, hdr_re, 'i');
            FOR k IN 2..pg_catalog.cardinality(pieces) LOOP
                EXIT WHEN ctx_left <= 0;
                ctx_left := ctx_left - 1;
                m := pg_catalog.regexp_match(pg_catalog.left(pieces[k], tok_max + 32), hdr_value_re, 'i');
                -- Bearer and Basic values are read by the next scan
                CONTINUE WHEN m IS NULL OR pg_catalog.lower(COALESCE(m[1], '')) IN ('bearer', 'basic')
                              OR m[2] ~* placeholder_re OR m[2] ~* uuid_re;
                cand_vals := cand_vals || pg_catalog.left(m[2], tok_max);
                cand_kinds := cand_kinds || 'bearer token (Authorization header)'::text;
            END LOOP;
            FOR m IN SELECT pg_catalog.regexp_matches(w, scheme_re, 'gi') LOOP
                EXIT WHEN ctx_left <= 0;
                ctx_left := ctx_left - 1;
                nm := pg_catalog.lower(m[1]);
                val := pg_catalog.left(m[2], 1024);
                CONTINUE WHEN val ~* placeholder_re OR val ~* uuid_re;
                IF nm = 'basic' THEN
                    IF val ~ '^[A-Za-z0-9+/]+={0,2}$' AND pg_catalog.length(val) % 4 = 0 THEN
                        b := pg_catalog.decode(val, 'base64');
                        IF pg_catalog.encode(b, 'escape') ~ '^[!-~]+:[ -~]{3,}$'
                           AND pg_catalog.strpos(pg_catalog.encode(b, 'escape'), '\') = 0 THEN
                            RETURN 'HTTP Basic credentials';
                        END IF;
                    END IF;
                ELSE
                    cand_vals := cand_vals || pg_catalog.left(val, tok_max);
                    cand_kinds := cand_kinds || 'bearer token (Authorization header)'::text;
                END IF;
            END LOOP;
        END IF;

        -- 6c. credential-named assignment: the credential words with their
        -- separator are matched (short matches are cheap to find), and the
        -- text between them gives each one's value (after it) and the rest
        -- of its name (before it)
        IF ctx_assign AND ctx_left > 0 AND w ~* a_pf THEN
            kws := ARRAY(SELECT am[1] FROM pg_catalog.regexp_matches(w, kw_re, 'gi') AS am);
            pieces := pg_catalog.regexp_split_to_array(w, kw_re, 'i');
            FOR k IN 1..LEAST(pg_catalog.cardinality(kws), ctx_left) LOOP
                ctx_left := ctx_left - 1;
                val := pg_catalog.rtrim((pg_catalog.regexp_match(pg_catalog.left(pieces[k + 1], tok_max), value_re))[1], '.:');
                CONTINUE WHEN val IS NULL OR pg_catalog.length(val) < 8 OR (pg_catalog.length(val) < 24 AND val !~ '[0-9]')
                              OR val !~ '[A-Za-z]' OR val ~* placeholder_re OR val ~* uuid_re;
                nm := pg_catalog.lower(COALESCE((pg_catalog.regexp_match(pg_catalog.right(pieces[k], 40), '[a-z0-9_.-]*$', 'i'))[1], '') || kws[k]);
                CONTINUE WHEN nm ~ '(?:page|sync|next|prev|continuation|cursor|delta|resume|change|state|csrf|xsrf|verify|verification|token[_.-]?type|idempotency|device|push|registration|fcm|apns)[_.-]?(?:token|key)$';
                IF nm ~ '(?:pass(?:word|wd|phrase)?|pwd)$' THEN
                    -- passwords are often made by people: length, a letter and a digit suffice
                    IF val ~ '[0-9]' AND val !~ '^(?:/|~/|\.\.?/)' THEN  -- pwd may be a working directory
                        RETURN 'password assignment';
                    END IF;
                ELSE
                    cand_vals := cand_vals || val;
                    cand_kinds := cand_kinds || CASE
                        WHEN nm ~ 'aws' AND nm ~ 'secret' THEN 'AWS secret access key'
                        WHEN nm ~ 'twilio' THEN 'Twilio auth token'
                        WHEN nm ~ 'client[_.-]?secret$' THEN 'client_secret assignment'
                        WHEN nm ~ 'private[_.-]?key$' THEN 'private key assignment'
                        WHEN nm ~ 'secret$' THEN 'secret assignment'
                        WHEN nm ~ '(?:token|auth)$' THEN 'token assignment'
                        ELSE 'api_key assignment'
                    END;
                END IF;
            END LOOP;
        END IF;

        -- Values from 6b and 6c must look random: long, letters and
        -- digits (or both cases), frequent class changes, and not
        -- made of words (camelCase words, or word-like segments
        -- between separators, covering half of it).
        FOR k IN 1..COALESCE(pg_catalog.array_length(cand_vals, 1), 0) LOOP
            val := cand_vals[k];
            ok := pg_catalog.length(val) >= 16;
            IF ok THEN
                nm := pg_catalog.regexp_replace(val, '[^A-Za-z0-9]', '', 'g');
                alnum := pg_catalog.length(nm);
                runs := pg_catalog.length(pg_catalog.regexp_replace(nm, '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                ok := runs >= GREATEST(4, alnum / 6);
            END IF;
            IF ok AND val !~ '[0-9]' THEN
                -- without digits: long, both cases, changing case often
                ok := pg_catalog.length(val) >= 24 AND val ~ '[a-z]' AND val ~ '[A-Z]' AND runs * 3 >= alnum;
            END IF;
            IF ok AND val ~ '[a-z]' AND val ~ '[A-Z]'
               AND (alnum - pg_catalog.length(pg_catalog.regexp_replace(val, '[A-Z]?[a-z]{4,}|[^A-Za-z0-9]', '', 'g'))) * 2 >= alnum THEN
                -- count only word-like runs: at least a quarter vowels
                SELECT COALESCE(pg_catalog.sum(pg_catalog.length(wd.w[1])), 0) INTO runs
                  FROM pg_catalog.regexp_matches(val, '([A-Z]?[a-z]{4,})', 'g') AS wd(w)
                 WHERE pg_catalog.length(pg_catalog.regexp_replace(wd.w[1], '[^aeiouyAEIOUY]', '', 'g')) * 4
                       >= pg_catalog.length(wd.w[1]);
                ok := runs * 2 < alnum;
            END IF;
            IF ok THEN
                nm := ' ' || pg_catalog.regexp_replace(val, '[^A-Za-z0-9]+', ' ', 'g') || ' ';
                ok := (pg_catalog.length(nm) - pg_catalog.length(pg_catalog.regexp_replace(nm, ' (?:[A-Z]?[a-z]+|[A-Z]+)(?= )', ' ', 'g'))) * 2 < alnum;
            END IF;
            IF ok THEN
                RETURN cand_kinds[k];
            END IF;
        END LOOP;
    END LOOP;

    RETURN NULL;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_credential_kind(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_credential_kind(text) IS
'Returns a short label of the kind of plaintext credential (API key, token, password, private key, credential URL) that the value appears to contain, or NULL. Never returns any part of the value. Detection uses the formats of plaintext_guard_rules() plus credential-named assignments, Authorization headers and URLs with random-looking secrets, checked as written, with whitespace removed and with JSON escapes decoded. Work is bounded: rules run only where their anchors occur, over windows of 16384 bytes overlapping by 2048, tokens are read on 256 characters, and a value that would need more than the budgets of rule scans, distinct anchors or dismissed matches gets the label "value the guard cannot check within its limits". SECURITY DEFINER with a pinned search_path, executable by the owner only; used by reject_plaintext_credentials().';

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
    SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                         JOIN pg_catalog.pg_type AS ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
                        WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                          AND (ty.oid OPERATOR(pg_catalog.>=) 16384::oid OR ty.typtype OPERATOR(pg_catalog.=) 'd'))
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

CREATE OR REPLACE FUNCTION @schema@.guard_plaintext_credentials(target regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    fn_schema text;
    rel regclass;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '22004',
            MESSAGE = 'guard_plaintext_credentials: argument "target" must not be NULL';
    END IF;

    -- The name of this function's schema, taken from an identifier (a column
    -- alias) so that the migration template needs no string literal for it.
    SELECT k INTO STRICT fn_schema
      FROM pg_catalog.json_object_keys(pg_catalog.to_json((SELECT s FROM (SELECT 1 AS @schema@) AS s))) AS k;

    -- The table and its inheritance children, whose rows show in the
    -- table's queries but do not fire its triggers. Partitions are left
    -- out: PostgreSQL gives every partition, present or future, the row
    -- triggers of its partitioned table.
    FOR rel IN
        WITH RECURSIVE tree(oid) AS (
            SELECT target::oid
            UNION
            SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.oid)
        SELECT tree.oid::regclass
          FROM tree JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) tree.oid
         WHERE tree.oid OPERATOR(pg_catalog.=) target::oid OR NOT c.relispartition
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER credvault_reject_plaintext BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %I.reject_plaintext_credentials()',
            rel, fn_schema);
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER credvault_recheck_plaintext AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %I.reject_plaintext_credentials()',
            rel, fn_schema);
    END LOOP;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.guard_plaintext_credentials(regclass) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.guard_plaintext_credentials(regclass) IS
'Attaches (idempotently) the plaintext guard to the table target and to its inheritance children: the trigger credvault_reject_plaintext (BEFORE INSERT OR UPDATE FOR EACH ROW) and credvault_recheck_plaintext (AFTER INSERT OR UPDATE FOR EACH ROW), both running reject_plaintext_credentials(). Partitions of a partitioned table get both from PostgreSQL, including partitions created or attached later; rows a table already holds when it is attached are not checked. Raises 22004 when target is NULL. SECURITY DEFINER with a pinned search_path, executable by the owner only (it can add triggers to any table the owner owns); call it from migrations for every table that must keep only Vault secret ids.';

CREATE OR REPLACE FUNCTION @schema@.guard_trigger_creators()
RETURNS TABLE (guarded_table regclass, role_name text, via text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH guarded AS (
        SELECT DISTINCT tr.tgrelid AS rel
          FROM pg_catalog.pg_trigger AS tr
         WHERE tr.tgname OPERATOR(pg_catalog.=) 'credvault_reject_plaintext'
           AND tr.tgfoid OPERATOR(pg_catalog.=) $rp$@schema@.reject_plaintext_credentials()$rp$::pg_catalog.regprocedure::oid
    ), holders AS (
        SELECT g.rel, c.relowner AS holder, 'owner'::text AS via
          FROM guarded AS g JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) g.rel
        UNION
        SELECT g.rel, a.grantee, 'TRIGGER privilege'
          FROM guarded AS g JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) g.rel
         CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a
         WHERE a.privilege_type OPERATOR(pg_catalog.=) 'TRIGGER' AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
    )
    SELECT u.rel::regclass, u.role_name, u.via
      FROM (SELECT h.rel, CASE WHEN h.holder OPERATOR(pg_catalog.=) 0::oid THEN 'PUBLIC'
                              ELSE pg_catalog.pg_get_userbyid(h.holder)::text END AS role_name, h.via
              FROM holders AS h
            UNION ALL
            -- roles that may act as a holder: through inherited rights or SET ROLE
            SELECT h.rel, r.rolname::text, 'member of ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(h.holder)::text
              FROM holders AS h
              JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.<>) h.holder
             WHERE h.holder OPERATOR(pg_catalog.<>) 0::oid AND NOT r.rolsuper
               AND NOT pg_catalog.starts_with(r.rolname::text, 'pg_')
               AND pg_catalog.pg_has_role(r.oid, h.holder, 'MEMBER')) AS u
     ORDER BY u.rel::regclass::text, u.via OPERATOR(pg_catalog.<>) 'owner', u.role_name
$fn$;

REVOKE ALL ON FUNCTION @schema@.guard_trigger_creators() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.guard_trigger_creators() IS
'Lists, for every table the plaintext guard of this schema protects, the roles that may create triggers on it: its owner, roles holding the TRIGGER privilege (PUBLIC included), and non-superuser members of either. A trigger runs as whoever writes the row, so such a role can run code with a writer''s rights. Used by credvault doctor. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

CREATE OR REPLACE FUNCTION @schema@.guard_coverage_gaps()
RETURNS TABLE (guarded_table regclass, problem text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH guarded AS (
        SELECT tr.tgrelid AS rel, tr.tgenabled
          FROM pg_catalog.pg_trigger AS tr
         WHERE tr.tgname OPERATOR(pg_catalog.=) 'credvault_reject_plaintext'
           AND tr.tgfoid OPERATOR(pg_catalog.=) $rp$@schema@.reject_plaintext_credentials()$rp$::pg_catalog.regprocedure::oid
    )
    SELECT p.rel::regclass, p.problem
      FROM (SELECT g.rel, 'the trigger credvault_reject_plaintext is disabled' AS problem
              FROM guarded AS g WHERE g.tgenabled OPERATOR(pg_catalog.=) 'D'
            UNION ALL
            SELECT g.rel, CASE WHEN r.tgname IS NULL THEN 'the trigger credvault_recheck_plaintext is missing'
                               ELSE 'the trigger credvault_recheck_plaintext is disabled' END
              FROM guarded AS g
              LEFT JOIN pg_catalog.pg_trigger AS r
                ON r.tgrelid OPERATOR(pg_catalog.=) g.rel AND r.tgname OPERATOR(pg_catalog.=) 'credvault_recheck_plaintext'
             WHERE r.tgname IS NULL OR r.tgenabled OPERATOR(pg_catalog.=) 'D'
            UNION ALL
            SELECT g.rel, 'inheritance child ' OPERATOR(pg_catalog.||) i.inhrelid::regclass::text OPERATOR(pg_catalog.||) ' is not guarded'
              FROM guarded AS g
              JOIN pg_catalog.pg_inherits AS i ON i.inhparent OPERATOR(pg_catalog.=) g.rel
              JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
             WHERE NOT c.relispartition
               AND NOT EXISTS (SELECT FROM guarded AS g2 WHERE g2.rel OPERATOR(pg_catalog.=) i.inhrelid)) AS p
     ORDER BY p.rel::regclass::text, p.problem
$fn$;

REVOKE ALL ON FUNCTION @schema@.guard_coverage_gaps() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.guard_coverage_gaps() IS
'Lists gaps in the plaintext guard of this schema: a disabled guard trigger, a missing or disabled recheck trigger (tables guarded before migration 0005 by a role that could not add it), and inheritance children without the guard. Each is fixed by running guard_plaintext_credentials() on the table again. Used by credvault doctor. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

-- Tables guarded by this schema before this migration get the recheck
-- trigger and their inheritance children get the guard. Only this schema's
-- guard is touched; a table the migration role may no longer add triggers
-- to keeps its BEFORE guard (which now runs the new checks) and is reported
-- by guard_coverage_gaps().
DO $do$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        SELECT tr.tgrelid::regclass
          FROM pg_catalog.pg_trigger AS tr
          JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) tr.tgrelid
         WHERE tr.tgname OPERATOR(pg_catalog.=) 'credvault_reject_plaintext'
           AND tr.tgfoid OPERATOR(pg_catalog.=) $rp$@schema@.reject_plaintext_credentials()$rp$::pg_catalog.regprocedure::oid
           AND NOT c.relispartition
    LOOP
        IF pg_catalog.has_table_privilege(rel, 'TRIGGER') THEN
            PERFORM @schema@.guard_plaintext_credentials(rel);
        ELSE
            RAISE WARNING USING MESSAGE = pg_catalog.format(
                'plaintext guard: cannot add the recheck trigger to %s (no TRIGGER privilege); run guard_plaintext_credentials() on it as its owner',
                rel);
        END IF;
    END LOOP;
END;
$do$;
