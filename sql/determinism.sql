-- Handlers run under pinned settings (rig.handler_timezone, DateStyle,
-- IntervalStyle, extra_float_digits, bytea_output), not the caller's: every
-- node, and a rebuild, computes the same rows; the caller's come back after.
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
-- another zone for handlers (superuser, the same on every node)
SET rig.handler_timezone = 'Asia/Tokyo';
SELECT rig_do('det', '{"day": "2026-01-05", "at": "2026-01-01 23:30:00+00", "iv": "0", "f": 0, "b": ""}') > 0 AS done;
SELECT to_char(utc_day, 'YYYY-MM-DD') AS day_in_tokyo FROM det.t WHERE day = '2026-01-05';
SET rig.handler_timezone = 'Mars/Olympus_Mons';
RESET rig.handler_timezone;
SELECT rig_unregister('det');

DROP SCHEMA det CASCADE;
