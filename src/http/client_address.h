// Which address a request comes from, when the site runs behind reverse proxies.
//
// A proxy (needed for HTTPS) is the TCP peer of every request it forwards, so rate limits and
// lock-outs keyed on the peer would treat all readers as one. A proxy appends the address it
// saw to X-Forwarded-For (or a `for=` element to Forwarded, RFC 7239); anyone else can write
// anything there. So the header is believed only from configured trusted proxies, and only as
// far as the chain of trusted proxies reaches: reading the hops right to left, the first one
// that is not a trusted proxy is the client. A request from an untrusted peer is that peer's.
//
// Thread safety: immutable after parse(); safe to share between threads.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"

namespace flashwire::http {

// The header the trusted proxies append to.
enum class ForwardedHeader { kXForwardedFor, kForwarded };

class TrustedProxies {
 public:
  TrustedProxies() = default;  // none: every request is its peer's

  // `entries`: IP addresses ("10.0.0.5", "::1") and CIDR blocks ("10.0.0.0/8", "fd00::/8").
  // Errors: kInvalid, the message naming the first entry that is neither.
  static tl::expected<TrustedProxies, Error> parse(const std::vector<std::string>& entries,
                                                   ForwardedHeader header);

  bool empty() const { return v4_.empty() && v6_.empty(); }
  // Whether `address` (an IPv4-mapped IPv6 address counts as its IPv4 one) is a trusted proxy.
  bool trusts(const boost::asio::ip::address& address) const;

  // The client's address for a request with `headers` received from `peer`, as text
  // ("203.0.113.7"): `peer` itself unless it is trusted; otherwise the rightmost hop of the
  // forwarding header that is not a trusted proxy (the leftmost if all are). A hop that is not an
  // IP address ends the walk at the last address read, so a forged or obfuscated value is never
  // taken as a key.
  std::string client_address(const boost::asio::ip::address& peer,
                             const boost::beast::http::fields& headers) const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
  ForwardedHeader header_ = ForwardedHeader::kXForwardedFor;
};

}  // namespace flashwire::http
