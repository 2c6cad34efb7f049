#include "http/client_address.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace flashwire::http {
namespace {

namespace ip = boost::asio::ip;

ip::address normalized(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// An address as a proxy writes it: "1.2.3.4", "1.2.3.4:5678", "::1", "[::1]", "[::1]:5678".
std::optional<ip::address> parse_hop(std::string_view hop) {
  hop = trim(hop);
  if (hop.size() >= 2 && hop.front() == '"' && hop.back() == '"')
    hop = hop.substr(1, hop.size() - 2);
  if (hop.starts_with('[')) {
    const auto close = hop.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    hop = hop.substr(1, close - 1);
  } else if (std::count(hop.begin(), hop.end(), ':') == 1) {
    hop = hop.substr(0, hop.find(':'));  // IPv4 with a port
  }
  boost::system::error_code ec;
  const ip::address address = ip::make_address(std::string(hop), ec);
  if (ec) return std::nullopt;
  return normalized(address);
}

// The hops of every instance of the header, in order (leftmost first). For Forwarded, each
// element's for= parameter ("" when an element has none, which stops the walk).
std::vector<std::string_view> hops_of(const boost::beast::http::fields& request,
                                      ForwardedHeader header) {
  std::vector<std::string_view> hops;
  const auto [first, last] = request.equal_range(
      header == ForwardedHeader::kXForwardedFor ? "X-Forwarded-For" : "Forwarded");
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view element = rest.substr(0, comma);
      if (header == ForwardedHeader::kXForwardedFor) {
        hops.push_back(element);
      } else {
        std::string_view value;
        for (std::string_view params = element; !params.empty();) {
          const auto semicolon = params.find(';');
          const std::string_view pair = trim(params.substr(0, semicolon));
          const auto equals = pair.find('=');
          if (equals != std::string_view::npos && iequals(trim(pair.substr(0, equals)), "for"))
            value = pair.substr(equals + 1);
          params = semicolon == std::string_view::npos ? "" : params.substr(semicolon + 1);
        }
        hops.push_back(value);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return hops;
}

}  // namespace

tl::expected<TrustedProxies, Error> TrustedProxies::parse(const std::vector<std::string>& entries,
                                                          ForwardedHeader header) {
  TrustedProxies proxies;
  proxies.header_ = header;
  for (const std::string& entry : entries) {
    boost::system::error_code ec;
    const bool block = entry.find('/') != std::string::npos;
    if (entry.find(':') != std::string::npos) {
      const auto network = block ? ip::make_network_v6(entry, ec)
                                 : ip::network_v6(ip::make_address_v6(entry, ec), 128);
      if (!ec) proxies.v6_.push_back(network);
    } else {
      const auto network = block ? ip::make_network_v4(entry, ec)
                                 : ip::network_v4(ip::make_address_v4(entry, ec), 32);
      if (!ec) proxies.v4_.push_back(network);
    }
    if (ec) {
      return tl::unexpected(
          Error{ErrorCode::kInvalid,
                "'" + entry + "' is not an IP address or a CIDR block like 10.0.0.0/8"});
    }
  }
  return proxies;
}

bool TrustedProxies::trusts(const ip::address& address) const {
  const ip::address a = normalized(address);
  if (a.is_v4()) {
    return std::any_of(v4_.begin(), v4_.end(), [&](const ip::network_v4& n) {
      return ip::network_v4(a.to_v4(), 32).is_subnet_of(n) || n.address() == a.to_v4();
    });
  }
  return std::any_of(v6_.begin(), v6_.end(), [&](const ip::network_v6& n) {
    return ip::network_v6(a.to_v6(), 128).is_subnet_of(n) || n.address() == a.to_v6();
  });
}

std::string TrustedProxies::client_address(const ip::address& peer,
                                           const boost::beast::http::fields& request) const {
  ip::address client = normalized(peer);
  if (empty() || !trusts(client)) return client.to_string();
  const std::vector<std::string_view> hops = hops_of(request, header_);
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto hop = parse_hop(*it);
    if (!hop) break;  // not written by a proxy we trust: keep the last address it vouched for
    client = *hop;
    if (!trusts(client)) break;
  }
  return client.to_string();
}

}  // namespace flashwire::http
