// base64url (RFC 4648 §5), the encoding of every key, salt and token in Web Push.
//
// Encoding never pads. Decoding accepts input with or without '=' padding (Firefox sends padded
// VAPID keys), and rejects characters outside the alphabet, impossible lengths, misplaced
// padding and non-zero trailing bits, so one value has exactly one accepted spelling.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "webpush/bytes.h"
#include "webpush/error.h"

namespace flashwire::webpush {

std::string base64url_encode(ByteView data);

// Errors: kInvalid, the message starting "base64url: " and naming the offending position.
Result<Bytes> base64url_decode(std::string_view text);

}  // namespace flashwire::webpush
