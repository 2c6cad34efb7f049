// Small named values that every node of a site must share, written once: the VAPID key pair
// all nodes sign with (so a subscription made through one node is accepted when another node
// sends to it).
//
// Contract: put_if_absent is atomic across processes: of two nodes putting the same name at once,
// one value is stored and both get it back. Values are opaque text; callers must not store more
// than a few kilobytes. Errors: kInvalid for an empty name, kIo when the store fails.
// Thread safety: one thread at a time per object.
#pragma once

#include <optional>
#include <string>

#include "store/error.h"

namespace flashwire::store {

class SettingsStore {
 public:
  virtual ~SettingsStore() = default;
  virtual Result<std::optional<std::string>> get(const std::string& name) = 0;
  // Stores `value` under `name` unless a value is there; returns the stored value either way.
  virtual Result<std::string> put_if_absent(const std::string& name, const std::string& value) = 0;
};

}  // namespace flashwire::store
