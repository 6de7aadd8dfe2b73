// The part of libpq (PostgreSQL's client library, libpq.so.5) the PostgreSQL authority uses, loaded at run time.
//
// libpq pulls in about twenty shared libraries (TLS, Kerberos, LDAP, ...). Linked into usagectx, they would be loaded
// by every session, shared authority or not, costing milliseconds at start and megabytes of memory. The library is
// opened with dlopen when a PostgreSQL connection is first made instead, and called through the functions below
// (libpq's names with a `upq_` prefix; the types are libpq's, whose layout libpq.so.5 keeps stable).
#ifndef CLIBPQ_H
#define CLIBPQ_H

#include <stddef.h>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/// A notification received by LISTEN (libpq's `PGnotify`).
typedef struct pgNotify {
  char *relname;
  int be_pid;
  char *extra;
  struct pgNotify *next;
} PGnotify;

/// libpq's `ConnStatusType` (only the values usagectx compares with are named).
typedef enum { CONNECTION_OK = 0, CONNECTION_BAD = 1 } ConnStatusType;

/// libpq's `ExecStatusType` (only the values usagectx compares with are named).
typedef enum {
  PGRES_EMPTY_QUERY = 0,
  PGRES_COMMAND_OK = 1,
  PGRES_TUPLES_OK = 2,
  PGRES_FATAL_ERROR = 7
} ExecStatusType;

/// Opens libpq.so.5 once. Returns NULL when it is usable, else why not (a static string).
const char *upq_load(void);

PGconn *upq_PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname);
ConnStatusType upq_PQstatus(const PGconn *conn);
void upq_PQfinish(PGconn *conn);
int upq_PQsocket(const PGconn *conn);
char *upq_PQerrorMessage(const PGconn *conn);
int upq_PQsendQuery(PGconn *conn, const char *query);
PGresult *upq_PQgetResult(PGconn *conn);
void upq_PQclear(PGresult *res);
ExecStatusType upq_PQresultStatus(const PGresult *res);
char *upq_PQresultErrorMessage(const PGresult *res);
char *upq_PQresultErrorField(const PGresult *res, int fieldcode);
int upq_PQconsumeInput(PGconn *conn);
PGnotify *upq_PQnotifies(PGconn *conn);
void upq_PQfreemem(void *ptr);
char *upq_PQescapeLiteral(PGconn *conn, const char *str, size_t len);
int upq_PQntuples(const PGresult *res);
int upq_PQnfields(const PGresult *res);
int upq_PQgetisnull(const PGresult *res, int tup_num, int field_num);
char *upq_PQgetvalue(const PGresult *res, int tup_num, int field_num);

#endif
