// Loads libpq.so.5 on first use and forwards to it (see include/clibpq.h).
#include "clibpq.h"

#include <dlfcn.h>
#include <pthread.h>

#define UPQ_FUNCTIONS(X)                                                                                            \
  X(PQconnectdbParams, PGconn *, (const char *const *, const char *const *, int))                                   \
  X(PQstatus, ConnStatusType, (const PGconn *))                                                                     \
  X(PQfinish, void, (PGconn *))                                                                                     \
  X(PQsocket, int, (const PGconn *))                                                                                \
  X(PQerrorMessage, char *, (const PGconn *))                                                                       \
  X(PQsendQuery, int, (PGconn *, const char *))                                                                     \
  X(PQgetResult, PGresult *, (PGconn *))                                                                            \
  X(PQclear, void, (PGresult *))                                                                                    \
  X(PQresultStatus, ExecStatusType, (const PGresult *))                                                             \
  X(PQresultErrorMessage, char *, (const PGresult *))                                                               \
  X(PQresultErrorField, char *, (const PGresult *, int))                                                            \
  X(PQconsumeInput, int, (PGconn *))                                                                                \
  X(PQnotifies, PGnotify *, (PGconn *))                                                                             \
  X(PQfreemem, void, (void *))                                                                                      \
  X(PQescapeLiteral, char *, (PGconn *, const char *, size_t))                                                      \
  X(PQntuples, int, (const PGresult *))                                                                             \
  X(PQnfields, int, (const PGresult *))                                                                             \
  X(PQgetisnull, int, (const PGresult *, int, int))                                                                 \
  X(PQgetvalue, char *, (const PGresult *, int, int))

#define UPQ_POINTER(name, result, parameters) static result(*real_##name) parameters;
UPQ_FUNCTIONS(UPQ_POINTER)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error = "libpq was not loaded";

static void load(void) {
  void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    load_error = "cannot load libpq.so.5, PostgreSQL's client library (Debian: apt install libpq5)";
    return;
  }
#define UPQ_RESOLVE(name, result, parameters)                                                                       \
  real_##name = (result(*) parameters)dlsym(library, #name);                                                        \
  if (real_##name == NULL) {                                                                                        \
    load_error = "libpq.so.5 lacks " #name;                                                                         \
    return;                                                                                                         \
  }
  UPQ_FUNCTIONS(UPQ_RESOLVE)
  load_error = NULL;
}

const char *upq_load(void) {
  pthread_once(&once, load);
  return load_error;
}

PGconn *upq_PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname) {
  return real_PQconnectdbParams(keywords, values, expand_dbname);
}
ConnStatusType upq_PQstatus(const PGconn *conn) { return real_PQstatus(conn); }
void upq_PQfinish(PGconn *conn) { real_PQfinish(conn); }
int upq_PQsocket(const PGconn *conn) { return real_PQsocket(conn); }
char *upq_PQerrorMessage(const PGconn *conn) { return real_PQerrorMessage(conn); }
int upq_PQsendQuery(PGconn *conn, const char *query) { return real_PQsendQuery(conn, query); }
PGresult *upq_PQgetResult(PGconn *conn) { return real_PQgetResult(conn); }
void upq_PQclear(PGresult *res) { real_PQclear(res); }
ExecStatusType upq_PQresultStatus(const PGresult *res) { return real_PQresultStatus(res); }
char *upq_PQresultErrorMessage(const PGresult *res) { return real_PQresultErrorMessage(res); }
char *upq_PQresultErrorField(const PGresult *res, int fieldcode) { return real_PQresultErrorField(res, fieldcode); }
int upq_PQconsumeInput(PGconn *conn) { return real_PQconsumeInput(conn); }
PGnotify *upq_PQnotifies(PGconn *conn) { return real_PQnotifies(conn); }
void upq_PQfreemem(void *ptr) { real_PQfreemem(ptr); }
char *upq_PQescapeLiteral(PGconn *conn, const char *str, size_t len) { return real_PQescapeLiteral(conn, str, len); }
int upq_PQntuples(const PGresult *res) { return real_PQntuples(res); }
int upq_PQnfields(const PGresult *res) { return real_PQnfields(res); }
int upq_PQgetisnull(const PGresult *res, int tup_num, int field_num) {
  return real_PQgetisnull(res, tup_num, field_num);
}
char *upq_PQgetvalue(const PGresult *res, int tup_num, int field_num) {
  return real_PQgetvalue(res, tup_num, field_num);
}
