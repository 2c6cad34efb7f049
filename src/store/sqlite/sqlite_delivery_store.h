// DeliveryStore on a SQLite file of its own (application_id "FWDS"), with the connection setup,
// transactions and error mapping of the other SQLite stores (sqlite_util).
//
// Decided here: counts are columns of the delivery row; the latency histogram is stored as one
// comma-separated text of bucket counts, and so are the counts per push service; failure
// reasons in a table of (alert, reason, count).
//
// Thread safety: as DeliveryStore; one thread at a time per object.
#pragma once

#include <memory>
#include <string>

#include "store/delivery_store.h"
#include "store/error.h"
#include "store/sqlite/sqlite_options.h"

namespace flashwire::store {

// Version 2 added the counts per push service (deliveries.service_targeted, service_accepted).
inline constexpr int kSqliteDeliveryStoreSchemaVersion = 2;

// Opens (creating if needed) the delivery store at `path`. Errors as open_sqlite_site_store:
// kIo when the file cannot be opened or created, kCorrupt when it is not this store's file.
Result<std::unique_ptr<DeliveryStore>> open_sqlite_delivery_store(
    const std::string& path, const SqliteOptions& options = {});

}  // namespace flashwire::store
