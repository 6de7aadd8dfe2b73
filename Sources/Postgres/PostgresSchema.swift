/// usagectx's tables in a PostgreSQL database, in a schema of their own (`usagectx`), versioned by
/// `usagectx.schema_version` and migrated forward by usagectx at connect time (under an advisory lock, so devices
/// starting together migrate once).
///
/// - `accounts`: one row per person (`name`), with the tier; every transaction of changes locks its account's row
///   first, so the totals it decides against are the committed state, whatever other devices do.
/// - `counters`: running totals per account, metric, UTC day (`-1` for all time) and breakdown label (`''` for
///   the metric's total), with up to four field totals, cost, events and unpriced changes; a period's total is the
///   sum of its days.
/// - `changes`: the change log (metric, amount, time, label, fields, cost, key, device), for history and audit;
///   from version 2 every label the change was made with too (`labels`, a JSON object; `NULL` for none and for the
///   changes recorded before).
/// - `keys`: idempotency keys unique per account, with the answer given, in the same transaction as the change.
/// - `apply(account, device, changes, answers)`: records a burst's changes and kept answers in one statement and
///   notifies the account's channel (`usagectx_<account id>`, payload: the device) in the same transaction.
enum PostgresSchema {
  /// The schema version this build writes.
  static let version = 2

  /// Creates or migrates the schema; returns nothing, throws what PostgreSQL said.
  static func migrate(_ connection: PostgresConnection) throws(PostgresError) {
    try connection.run(
      """
      SET client_min_messages = warning;
      SELECT pg_advisory_lock(727274);
      CREATE SCHEMA IF NOT EXISTS usagectx;
      CREATE TABLE IF NOT EXISTS usagectx.schema_version (version integer NOT NULL);
      """)
    // The lock also ends with the session.
    defer { _ = try? connection.run("SELECT pg_advisory_unlock(727274)") }  // harmless: ends with the session
    let rows = try connection.run("SELECT max(version) FROM usagectx.schema_version")
    let current = rows.first?.rows.first?.first.flatMap { $0 }.flatMap { Int($0) } ?? 0
    guard current <= version else {
      throw PostgresError(
        "the usagectx schema in this database is version \(current), newer than this build's \(version)")
    }
    if current < 1 {
      try connection.run("BEGIN;\n" + versionOne + "\nINSERT INTO usagectx.schema_version VALUES (1); COMMIT;")
    }
    if current < 2 {
      try connection.run("BEGIN;\n" + versionTwo + "\nINSERT INTO usagectx.schema_version VALUES (2); COMMIT;")
    }
  }

  static let versionOne = """
    CREATE TABLE usagectx.accounts (
      id bigserial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      tier text NOT NULL DEFAULT 'free',
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE usagectx.counters (
      account bigint NOT NULL REFERENCES usagectx.accounts(id),
      metric text NOT NULL,
      day bigint NOT NULL,
      label text NOT NULL DEFAULT '',
      used bigint NOT NULL DEFAULT 0,
      f1 bigint NOT NULL DEFAULT 0,
      f2 bigint NOT NULL DEFAULT 0,
      f3 bigint NOT NULL DEFAULT 0,
      f4 bigint NOT NULL DEFAULT 0,
      cost double precision NOT NULL DEFAULT 0,
      events bigint NOT NULL DEFAULT 0,
      unpriced bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (account, metric, label, day)
    );
    CREATE TABLE usagectx.changes (
      id bigserial PRIMARY KEY,
      account bigint NOT NULL REFERENCES usagectx.accounts(id),
      metric text NOT NULL,
      delta bigint NOT NULL,
      at bigint NOT NULL,
      label text,
      key text,
      device text NOT NULL,
      kind smallint NOT NULL DEFAULT 0,
      fields bigint[],
      cost double precision NOT NULL DEFAULT 0,
      events bigint NOT NULL DEFAULT 1
    );
    CREATE INDEX changes_by_time ON usagectx.changes (account, metric, at);
    CREATE TABLE usagectx.keys (
      account bigint NOT NULL REFERENCES usagectx.accounts(id),
      key text NOT NULL,
      fingerprint text NOT NULL,
      answer text,
      at bigint NOT NULL,
      PRIMARY KEY (account, key)
    );
    CREATE FUNCTION usagectx.apply(p_account bigint, p_device text, p_changes jsonb, p_answers jsonb, p_burst text)
    RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
      c record;
      n integer;
      skipped jsonb := '[]'::jsonb;
    BEGIN
      -- Changes replayed from a device's outbox, each applied once per key, whoever delivered it before; one of a
      -- burst whose commit went unanswered, only if that burst did not commit. Their positions are skipped below.
      FOR c IN
        SELECT e.position - 1 AS position, e.value->>'key' AS key, e.value->>'burst' AS burst,
          (e.value->>'at')::bigint AS at
        FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS e(value, position)
        WHERE (e.value->>'replayed')::boolean IS TRUE
      LOOP
        IF c.burst IS NOT NULL AND EXISTS (
          SELECT 1 FROM usagectx.keys WHERE account = p_account AND key = c.burst) THEN
          skipped := skipped || to_jsonb(c.position);
          CONTINUE;
        END IF;
        INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
          VALUES (p_account, c.key, '', NULL, c.at) ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN
          skipped := skipped || to_jsonb(c.position);
        END IF;
      END LOOP;
      -- Every other change, set-based: one log row each, and each counter moved once per metric, day and label
      -- (updating one row many times in a transaction would cost more for every version before it).
      WITH x AS (
        SELECT r.*
        FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS e(value, position),
          jsonb_to_record(e.value) AS r(metric text, delta bigint, at bigint, label text, key text, kind smallint,
            fields bigint[], cost double precision, events bigint, priced boolean)
        WHERE NOT skipped @> to_jsonb(e.position - 1)
      ), logged AS (
        INSERT INTO usagectx.changes (account, metric, delta, at, label, key, device, kind, fields, cost, events)
        SELECT p_account, metric, delta, at, label, key, p_device, coalesce(kind, 0), fields, coalesce(cost, 0),
          coalesce(events, 1)
        FROM x
      )
      , y AS (
        SELECT metric, floor(at / 86400000.0)::bigint AS day, label, delta, coalesce(fields[1], 0) AS f1,
          coalesce(fields[2], 0) AS f2, coalesce(fields[3], 0) AS f3, coalesce(fields[4], 0) AS f4,
          coalesce(cost, 0) AS cost, CASE WHEN fields IS NULL THEN 0 ELSE coalesce(events, 1) END AS events,
          CASE WHEN priced IS FALSE THEN 1 ELSE 0 END AS unpriced
        FROM x
      )
      INSERT INTO usagectx.counters AS t (account, metric, day, label, used, f1, f2, f3, f4, cost, events, unpriced)
      SELECT p_account, g.metric, g.day, g.label, sum(g.delta), sum(g.f1), sum(g.f2), sum(g.f3), sum(g.f4),
        sum(g.cost), sum(g.events), sum(g.unpriced)
      FROM (
        SELECT metric, day, '' AS label, delta, f1, f2, f3, f4, cost, events, unpriced FROM y
        UNION ALL SELECT metric, -1, '', delta, f1, f2, f3, f4, cost, events, unpriced FROM y
        UNION ALL SELECT metric, day, label, delta, f1, f2, f3, f4, cost, events, unpriced FROM y WHERE label IS NOT NULL
      ) AS g
      GROUP BY g.metric, g.day, g.label
      ON CONFLICT (account, metric, label, day) DO UPDATE SET used = t.used + excluded.used, f1 = t.f1 + excluded.f1,
        f2 = t.f2 + excluded.f2, f3 = t.f3 + excluded.f3, f4 = t.f4 + excluded.f4, cost = t.cost + excluded.cost,
        events = t.events + excluded.events, unpriced = t.unpriced + excluded.unpriced;
      INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
        SELECT p_account, a.key, a.fingerprint, a.answer, a.at
        FROM jsonb_to_recordset(p_answers) AS a(key text, fingerprint text, answer text, at bigint)
        ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, answer = excluded.answer
        WHERE usagectx.keys.answer IS NULL;
      IF p_burst IS NOT NULL THEN
        INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
          VALUES (p_account, p_burst, 'burst', NULL, (extract(epoch FROM now()) * 1000)::bigint);
      END IF;
      PERFORM pg_notify('usagectx_' || p_account, p_device);
      RETURN skipped;
    END
    $$;
    """

  /// Version 2: every label of a change in the change log (`labels`, NULL for none; the rows already there keep NULL),
  /// written by `usagectx.apply` from each change's `labels` object (the function is replaced; the rest of it is
  /// version 1's).
  static let versionTwo = """
    ALTER TABLE usagectx.changes ADD COLUMN labels jsonb;
    CREATE OR REPLACE FUNCTION usagectx.apply(p_account bigint, p_device text, p_changes jsonb, p_answers jsonb, p_burst text)
    RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
      c record;
      n integer;
      skipped jsonb := '[]'::jsonb;
    BEGIN
      -- Changes replayed from a device's outbox, each applied once per key, whoever delivered it before; one of a
      -- burst whose commit went unanswered, only if that burst did not commit. Their positions are skipped below.
      FOR c IN
        SELECT e.position - 1 AS position, e.value->>'key' AS key, e.value->>'burst' AS burst,
          (e.value->>'at')::bigint AS at
        FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS e(value, position)
        WHERE (e.value->>'replayed')::boolean IS TRUE
      LOOP
        IF c.burst IS NOT NULL AND EXISTS (
          SELECT 1 FROM usagectx.keys WHERE account = p_account AND key = c.burst) THEN
          skipped := skipped || to_jsonb(c.position);
          CONTINUE;
        END IF;
        INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
          VALUES (p_account, c.key, '', NULL, c.at) ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN
          skipped := skipped || to_jsonb(c.position);
        END IF;
      END LOOP;
      -- Every other change, set-based: one log row each, and each counter moved once per metric, day and label
      -- (updating one row many times in a transaction would cost more for every version before it).
      WITH x AS (
        SELECT r.*
        FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS e(value, position),
          jsonb_to_record(e.value) AS r(metric text, delta bigint, at bigint, label text, key text, kind smallint,
            fields bigint[], cost double precision, events bigint, priced boolean, labels jsonb)
        WHERE NOT skipped @> to_jsonb(e.position - 1)
      ), logged AS (
        INSERT INTO usagectx.changes (account, metric, delta, at, label, key, device, kind, fields, cost, events,
          labels)
        SELECT p_account, metric, delta, at, label, key, p_device, coalesce(kind, 0), fields, coalesce(cost, 0),
          coalesce(events, 1), CASE WHEN jsonb_typeof(labels) = 'object' AND labels <> '{}' THEN labels END
        FROM x
      )
      , y AS (
        SELECT metric, floor(at / 86400000.0)::bigint AS day, label, delta, coalesce(fields[1], 0) AS f1,
          coalesce(fields[2], 0) AS f2, coalesce(fields[3], 0) AS f3, coalesce(fields[4], 0) AS f4,
          coalesce(cost, 0) AS cost, CASE WHEN fields IS NULL THEN 0 ELSE coalesce(events, 1) END AS events,
          CASE WHEN priced IS FALSE THEN 1 ELSE 0 END AS unpriced
        FROM x
      )
      INSERT INTO usagectx.counters AS t (account, metric, day, label, used, f1, f2, f3, f4, cost, events, unpriced)
      SELECT p_account, g.metric, g.day, g.label, sum(g.delta), sum(g.f1), sum(g.f2), sum(g.f3), sum(g.f4),
        sum(g.cost), sum(g.events), sum(g.unpriced)
      FROM (
        SELECT metric, day, '' AS label, delta, f1, f2, f3, f4, cost, events, unpriced FROM y
        UNION ALL SELECT metric, -1, '', delta, f1, f2, f3, f4, cost, events, unpriced FROM y
        UNION ALL SELECT metric, day, label, delta, f1, f2, f3, f4, cost, events, unpriced FROM y WHERE label IS NOT NULL
      ) AS g
      GROUP BY g.metric, g.day, g.label
      ON CONFLICT (account, metric, label, day) DO UPDATE SET used = t.used + excluded.used, f1 = t.f1 + excluded.f1,
        f2 = t.f2 + excluded.f2, f3 = t.f3 + excluded.f3, f4 = t.f4 + excluded.f4, cost = t.cost + excluded.cost,
        events = t.events + excluded.events, unpriced = t.unpriced + excluded.unpriced;
      INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
        SELECT p_account, a.key, a.fingerprint, a.answer, a.at
        FROM jsonb_to_recordset(p_answers) AS a(key text, fingerprint text, answer text, at bigint)
        ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, answer = excluded.answer
        WHERE usagectx.keys.answer IS NULL;
      IF p_burst IS NOT NULL THEN
        INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
          VALUES (p_account, p_burst, 'burst', NULL, (extract(epoch FROM now()) * 1000)::bigint);
      END IF;
      PERFORM pg_notify('usagectx_' || p_account, p_device);
      RETURN skipped;
    END
    $$;
    """
}
