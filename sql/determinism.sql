-- Handlers run under pinned settings (rig.handler_timezone, DateStyle,
-- IntervalStyle, extra_float_digits, bytea_output, rig.handler_locale for
-- lc_monetary / lc_numeric / lc_time, default_text_search_config), not the
-- caller's: every node, and a rebuild, computes the same rows; the caller's
-- come back after.
CREATE SCHEMA det;
CREATE TABLE det.t (version bigint PRIMARY KEY, day date, utc_day date, iv text, f text, b text);
CREATE FUNCTION det.apply(v bigint, d jsonb) RETURNS void
	LANGUAGE sql AS $$
	INSERT INTO det.t VALUES (v, (d->>'day')::date, (d->>'at')::timestamptz::date,
		(d->>'iv')::interval::text, ((d->>'f')::float8 + 0.2)::text, (d->>'b')::bytea::text) $$;
SELECT rig_register('det', 'det.apply(bigint,jsonb)');
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
SELECT rig_do('det', '{"day": "01/02/2026", "at": "2026-01-01 23:30:00+00", "iv": "1 day 2 hours", "f": 0.1, "b": "\\x01ff"}') > 0 AS done;
SHOW TimeZone;
SHOW DateStyle;
RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits; RESET bytea_output;
-- the same op under the defaults of a regression session (PST8PDT, Postgres, MDY) stores the same row
SELECT rig_do('det', '{"day": "01/02/2026", "at": "2026-01-01 23:30:00+00", "iv": "1 day 2 hours", "f": 0.1, "b": "\\x01ff"}') > 0 AS done;
SELECT to_char(day, 'YYYY-MM-DD') AS day, to_char(utc_day, 'YYYY-MM-DD') AS utc_day, iv, f, b,
	   count(*) AS rows FROM det.t GROUP BY 1, 2, 3, 4, 5;
-- another zone for handlers is the node's, in postgresql.conf (the same on
-- every node; TAP 057 sets one): no session, superuser or not, sets its own
SET rig.handler_timezone = 'Asia/Tokyo';
ALTER SYSTEM SET rig.handler_timezone = 'Mars/Olympus_Mons';
SELECT rig_unregister('det');

-- the locale settings and the text search configuration
CREATE TABLE det.l (version bigint PRIMARY KEY, monetary text, numeric text, lc_time text, tsv text);
CREATE FUNCTION det.apply_l(v bigint, d jsonb) RETURNS void
	LANGUAGE sql AS $$
	INSERT INTO det.l VALUES (v, current_setting('lc_monetary'), current_setting('lc_numeric'),
		current_setting('lc_time'), to_tsvector(d->>'text')::text) $$;
-- a handler may pin its own in its definition (which peers must match)
CREATE FUNCTION det.apply_l_english(v bigint, d jsonb) RETURNS void
	LANGUAGE sql SET default_text_search_config = 'pg_catalog.english' AS $$
	INSERT INTO det.l VALUES (v, current_setting('lc_monetary'), current_setting('lc_numeric'),
		current_setting('lc_time'), to_tsvector(d->>'text')::text) $$;
SELECT rig_register('det_l', 'det.apply_l(bigint,jsonb)');
SELECT rig_register('det_l_english', 'det.apply_l_english(bigint,jsonb)');
SET lc_monetary = 'C.UTF-8';
SET lc_numeric = 'C.UTF-8';
SET lc_time = 'C.UTF-8';
SET default_text_search_config = 'pg_catalog.english';
SELECT rig_do('det_l', '{"text": "The running dogs"}') > 0 AS done;
SELECT rig_do('det_l_english', '{"text": "The running dogs"}') > 0 AS done;
SELECT monetary, numeric, lc_time, tsv FROM det.l ORDER BY version;
-- the caller's settings come back
SELECT current_setting('lc_monetary') AS lc_monetary, current_setting('default_text_search_config') AS ts_config;
RESET lc_monetary; RESET lc_numeric; RESET lc_time; RESET default_text_search_config;
SET rig.handler_locale = 'C.UTF-8';
ALTER SYSTEM SET rig.handler_locale = 'xx_NOWHERE';
ALTER SYSTEM SET rig.handler_locale = '';
SELECT rig_unregister('det_l');
SELECT rig_unregister('det_l_english');

DROP SCHEMA det CASCADE;
