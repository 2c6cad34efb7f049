// The PostgreSQL schema of every store Flashwire keeps in one database (site, deliveries, shared
// settings), and its versioned migrations.
//
// Migrations are numbered from 1; the table flashwire_schema_migrations holds one row per applied
// version. migrate() takes a transaction-scoped advisory lock first, so two nodes starting
// together migrate once: the second waits for the first to commit, then finds nothing to do.
// Each migration commits together with its row, so a database is never left half-migrated.
// Migrations only add (tables, indexes, columns with defaults); nothing stored is rewritten.
#pragma once

#include "store/error.h"
#include "store/postgres/pg.h"

namespace flashwire::store::pg {

// The newest schema version this code knows: what migrate() brings a database to.
int latest_schema_version();

// Applies every migration the database lacks; returns the version it is at afterwards.
// kCorrupt when the database is at a version newer than this code knows (a newer Flashwire
// migrated it), kIo when the server fails.
Result<int> migrate(Connection& conn);

// The version the database is at (0: never migrated). Errors as migrate().
Result<int> schema_version(Connection& conn);

}  // namespace flashwire::store::pg
