extension LedgerStore {
  /// The schema, one step per version: version `n` is reached by running `migrations[n - 1]`.
  static let migrations: [String] = [
    """
    CREATE TABLE changes (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      at_ms INTEGER NOT NULL,
      day INTEGER NOT NULL,
      key TEXT,
      label TEXT
    );
    CREATE INDEX changes_by_metric_day ON changes (metric, day);
    """,
    """
    CREATE TABLE idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      answer BLOB NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency (at_ms);
    """,
    """
    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      key TEXT NOT NULL,
      at_ms INTEGER NOT NULL
    );
    """,
    """
    ALTER TABLE changes ADD COLUMN f0 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f1 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f2 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f3 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN cost REAL NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE changes ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE changes ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE changes ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE counters (
      metric TEXT NOT NULL,
      day INTEGER NOT NULL,
      label TEXT NOT NULL,
      amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
      f0 INTEGER NOT NULL CHECK (typeof(f0) = 'integer'),
      f1 INTEGER NOT NULL CHECK (typeof(f1) = 'integer'),
      f2 INTEGER NOT NULL CHECK (typeof(f2) = 'integer'),
      f3 INTEGER NOT NULL CHECK (typeof(f3) = 'integer'),
      cost REAL NOT NULL,
      priced INTEGER NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, day, label)
    ) WITHOUT ROWID;
    INSERT INTO counters
      SELECT metric, day, COALESCE(label, ''), SUM(delta), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost), MIN(priced),
        SUM(events)
      FROM changes GROUP BY metric, day, COALESCE(label, '');
    INSERT INTO counters
      SELECT metric, -9223372036854775808, label, SUM(amount), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost),
        MIN(priced), SUM(events)
      FROM counters GROUP BY metric, label;
    CREATE TABLE baselines (
      metric TEXT NOT NULL,
      label TEXT NOT NULL,
      since_day INTEGER NOT NULL,
      amount INTEGER NOT NULL,
      f0 INTEGER NOT NULL, f1 INTEGER NOT NULL, f2 INTEGER NOT NULL, f3 INTEGER NOT NULL,
      cost REAL NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, label)
    ) WITHOUT ROWID;
    CREATE TABLE readings (
      metric TEXT PRIMARY KEY,
      value INTEGER NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    // Every label of a change (model, provider, conversation, …) as a JSON object with sorted keys, NULL for none:
    // history groups and filters by any of them, export writes them. Older changes keep NULL. And the keys of the
    // entries `usagectx import` brought in from LLM tools' logs, kept for good (a change's own key is gone once its
    // day is rolled up), so a log imported again counts once.
    """
    ALTER TABLE changes ADD COLUMN labels TEXT;
    CREATE TABLE imported (
      key TEXT PRIMARY KEY,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    // The change's facts for its remote authority (labels, fields, cost; JSON text written by the sender).
    """
    ALTER TABLE outbox ADD COLUMN facts TEXT;
    """,
  ]

  /// The latest schema in one step, for a new file: what running every step of ``migrations`` on an empty database
  /// leaves (a test compares the two), without re-parsing the schema after each `ALTER TABLE`.
  static let currentSchema = """
    CREATE TABLE changes (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      at_ms INTEGER NOT NULL,
      day INTEGER NOT NULL,
      key TEXT,
      label TEXT
    , f0 INTEGER NOT NULL DEFAULT 0, f1 INTEGER NOT NULL DEFAULT 0, f2 INTEGER NOT NULL DEFAULT 0, \
    f3 INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 1, \
    events INTEGER NOT NULL DEFAULT 0, kind INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 1, \
    rolled INTEGER NOT NULL DEFAULT 0, labels TEXT);
    CREATE INDEX changes_by_metric_day ON changes (metric, day);
    CREATE TABLE idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      answer BLOB NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency (at_ms);
    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      key TEXT NOT NULL,
      at_ms INTEGER NOT NULL
    , facts TEXT);
    CREATE TABLE counters (
      metric TEXT NOT NULL,
      day INTEGER NOT NULL,
      label TEXT NOT NULL,
      amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
      f0 INTEGER NOT NULL CHECK (typeof(f0) = 'integer'),
      f1 INTEGER NOT NULL CHECK (typeof(f1) = 'integer'),
      f2 INTEGER NOT NULL CHECK (typeof(f2) = 'integer'),
      f3 INTEGER NOT NULL CHECK (typeof(f3) = 'integer'),
      cost REAL NOT NULL,
      priced INTEGER NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, day, label)
    ) WITHOUT ROWID;
    CREATE TABLE baselines (
      metric TEXT NOT NULL,
      label TEXT NOT NULL,
      since_day INTEGER NOT NULL,
      amount INTEGER NOT NULL,
      f0 INTEGER NOT NULL, f1 INTEGER NOT NULL, f2 INTEGER NOT NULL, f3 INTEGER NOT NULL,
      cost REAL NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, label)
    ) WITHOUT ROWID;
    CREATE TABLE readings (
      metric TEXT PRIMARY KEY,
      value INTEGER NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE imported (
      key TEXT PRIMARY KEY,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """
}
