#include <sqlite3.h>

/// sqlite3_db_config for the options that take an int and return one (Swift cannot call C variadic functions).
static inline int usagectx_sqlite3_db_config_int(sqlite3 *db, int op, int value, int *result) {
  return sqlite3_db_config(db, op, value, result);
}
