/*
 * sqlite_floor.c - the physical floor of a durable round trip: one-row commits of bare SQLite in WAL mode with
 * synchronous=FULL, timed one by one.
 *
 *   sqlite_floor [--ledger-writes] DIR COUNT [WARMUP]
 *
 * Creates DIR/floor.sqlite3 (DIR must exist; the file must not), sets journal_mode=WAL and synchronous=FULL, creates
 * one table, then runs WARMUP (default 0) untimed and COUNT timed transactions `BEGIN IMMEDIATE; INSERT one row;
 * COMMIT`, each timed from before BEGIN to after COMMIT. Prints one line of JSON on stdout: count, p50_us, p99_us,
 * max_us, and samples_us (every timed commit, in order). Errors go to stderr, with exit status 1.
 *
 * With --ledger-writes, each transaction writes what one increment's commit writes in usagectx's ledger instead: a
 * row of a change log with an index on (metric, day), and the day's and the all-time running totals upserted in a
 * counters table keyed by (metric, day, label) - three pages per commit where the floor writes one.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(sqlite3 *db, const char *what) {
  fprintf(stderr, "sqlite_floor: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
  return 1;
}

static int64_t now_ns(void) {
  struct timespec spec;
  clock_gettime(CLOCK_MONOTONIC, &spec);
  return (int64_t)spec.tv_sec * 1000000000 + spec.tv_nsec;
}

/* Milliseconds since the epoch, as a change's timestamp. */
static int64_t wall_ms(void) {
  struct timespec spec;
  clock_gettime(CLOCK_REALTIME, &spec);
  return (int64_t)spec.tv_sec * 1000 + spec.tv_nsec / 1000000;
}

static int compare(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, as the harness computes it. */
static int64_t percentile(const int64_t *sorted, long count, int pct) {
  long rank = (count * pct + 99) / 100;
  if (rank < 1) rank = 1;
  return sorted[rank - 1];
}

static const char *floor_schema =
    "CREATE TABLE changes (id INTEGER PRIMARY KEY, metric TEXT NOT NULL, delta INTEGER NOT NULL, at_ms INTEGER NOT NULL);";
static const char *floor_write = "INSERT INTO changes (metric, delta, at_ms) VALUES ('documents', 1, ?1)";

static const char *ledger_schema =
    "CREATE TABLE changes (id INTEGER PRIMARY KEY, metric TEXT NOT NULL, delta INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL, day INTEGER NOT NULL, key TEXT, label TEXT, count INTEGER NOT NULL);"
    "CREATE INDEX changes_by_metric_day ON changes (metric, day);"
    "CREATE TABLE counters (metric TEXT NOT NULL, day INTEGER NOT NULL, label TEXT NOT NULL, amount INTEGER NOT NULL,"
    "  PRIMARY KEY (metric, day, label)) WITHOUT ROWID;"
    "CREATE INDEX counters_by_day ON counters (day);";
static const char *ledger_write =
    "INSERT INTO changes (metric, delta, at_ms, day, key, label, count) VALUES ('documents', 1, ?1, ?1 / 86400000,"
    "  NULL, NULL, 1);"
    "INSERT INTO counters (metric, day, label, amount) VALUES ('documents', ?1 / 86400000, '', 1),"
    "  ('documents', -9223372036854775808, '', 1)"
    "  ON CONFLICT (metric, day, label) DO UPDATE SET amount = amount + excluded.amount;";

static int open_database(const char *dir, const char *schema, sqlite3 **db) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/floor.sqlite3", dir) >= (int)sizeof path) {
    fprintf(stderr, "sqlite_floor: directory name too long\n");
    return 1;
  }
  if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, NULL) != SQLITE_OK) {
    return fail(*db, path);
  }
  if (sqlite3_exec(*db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(*db, schema, NULL, NULL, NULL) != SQLITE_OK) {
    return fail(*db, "setup");
  }
  return 0;
}

/* The statements of one transaction: BEGIN IMMEDIATE, the writes (one statement or two), COMMIT. */
typedef struct {
  sqlite3_stmt *statements[4];
  int count;
} transaction;

static int prepare(sqlite3 *db, const char *writes, transaction *txn) {
  txn->count = 0;
  if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &txn->statements[txn->count++], NULL) != SQLITE_OK) {
    return fail(db, "prepare BEGIN");
  }
  const char *rest = writes;
  while (rest != NULL && *rest != '\0') {
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, rest, -1, &statement, &rest) != SQLITE_OK) return fail(db, "prepare the writes");
    if (statement != NULL) txn->statements[txn->count++] = statement;
  }
  if (sqlite3_prepare_v2(db, "COMMIT", -1, &txn->statements[txn->count++], NULL) != SQLITE_OK) {
    return fail(db, "prepare COMMIT");
  }
  return 0;
}

/* Runs one transaction; `at` (milliseconds) is bound to ?1 of the writes. */
static int run(sqlite3 *db, transaction *txn, int64_t at) {
  for (int index = 0; index < txn->count; index++) {
    sqlite3_stmt *statement = txn->statements[index];
    if (sqlite3_bind_parameter_count(statement) > 0) sqlite3_bind_int64(statement, 1, at);
    if (sqlite3_step(statement) != SQLITE_DONE) return fail(db, sqlite3_sql(statement));
    sqlite3_reset(statement);
  }
  return 0;
}

/* The JSON line: the percentiles of `samples` (ns, sorted here after being printed in order), in µs. */
static void print_samples(int64_t *samples, long count) {
  printf("{\"count\":%ld,\"samples_us\":[", count);
  for (long index = 0; index < count; index++) printf("%s%.1f", index ? "," : "", samples[index] / 1000.0);
  qsort(samples, (size_t)count, sizeof *samples, compare);
  printf("],\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n", percentile(samples, count, 50) / 1000.0,
         percentile(samples, count, 99) / 1000.0, samples[count - 1] / 1000.0);
}

int main(int argc, char **argv) {
  int ledger = argc > 1 && strcmp(argv[1], "--ledger-writes") == 0;
  argc -= ledger;
  argv += ledger;
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: sqlite_floor [--ledger-writes] DIR COUNT [WARMUP]\n");
    return 2;
  }
  long count = strtol(argv[2], NULL, 10);
  long warmup = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
  if (count < 1 || warmup < 0) {
    fprintf(stderr, "sqlite_floor: COUNT must be positive and WARMUP not negative\n");
    return 2;
  }
  sqlite3 *db = NULL;
  transaction txn;
  if (open_database(argv[1], ledger ? ledger_schema : floor_schema, &db) != 0) return 1;
  if (prepare(db, ledger ? ledger_write : floor_write, &txn) != 0) return 1;
  int64_t *samples = malloc(sizeof *samples * (size_t)count);
  if (samples == NULL) return fail(NULL, "samples");
  for (long index = 0; index < warmup + count; index++) {
    int64_t began = now_ns();
    if (run(db, &txn, wall_ms()) != 0) return 1;
    if (index >= warmup) samples[index - warmup] = now_ns() - began;
  }
  for (int index = 0; index < txn.count; index++) sqlite3_finalize(txn.statements[index]);
  if (sqlite3_close(db) != SQLITE_OK) return fail(db, "close");
  print_samples(samples, count);
  free(samples);
  return 0;
}
