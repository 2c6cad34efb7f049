// One authenticated newsroom API request being answered (NewsroomApi::Call), shared by the
// files that implement NewsroomApi's handlers. Internal to src/newsroom/.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/server.h"
#include "newsroom/newsroom_api.h"
#include "store/site_store.h"

namespace flashwire::newsroom {

struct NewsroomApi::Call {
  const http::Request& request;
  std::vector<std::string_view> parts;  // path segments after /api/newsroom/
  store::ApiToken token;
  boost::json::object body;  // the parsed JSON body of a write; empty otherwise
  std::int64_t id = 0;       // the path's {id}, when the route has one
  std::string_view slug;     // the path's {slug}, when the route has one
};

}  // namespace flashwire::newsroom
