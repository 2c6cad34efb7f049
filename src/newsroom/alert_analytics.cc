#include "newsroom/alert_analytics.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>

#include "news/push_service.h"
#include "newsroom/newsroom_api.h"
#include "http/live_stream.h"
#include "store/error_kind.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Status;

constexpr std::string_view kEventsSuffix = "/events";
constexpr std::string_view kAlertsPrefix = "/api/newsroom/alerts/";
constexpr std::int64_t kMaxOptinDays = 90;
// How often open alert streams are refreshed; an event goes out only when the alert changed.
constexpr std::chrono::milliseconds kStreamRefresh{1000};
// The wait after a refresh is at least this many times what the refresh took.
constexpr int kStreamLoadFactor = 10;

// Nearest rank: the smallest value with at least `p` of all values at or below it.
std::int64_t percentile(std::span<const std::int64_t> sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(p * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

json::value optional_ms(const std::optional<std::int64_t>& ms) {
  return ms ? json::value(*ms) : json::value(nullptr);
}

constexpr std::array<news::PushServiceKind, store::kPushServiceCount> kServices = {
    news::PushServiceKind::kFcm, news::PushServiceKind::kMozilla, news::PushServiceKind::kApple,
    news::PushServiceKind::kOwn, news::PushServiceKind::kOther};

std::uint64_t service_count(const store::AlertReach& reach, news::PushServiceKind service,
                            store::AlertEvent event) {
  return reach.by_service[static_cast<std::size_t>(service)][static_cast<std::size_t>(event)];
}

// The fan-out's targeted or accepted count of one push service: 0 before the fan-out began,
// nullopt for a fan-out the store has no split of (begun before it kept one).
std::optional<std::uint64_t> delivery_service_count(const std::optional<news::Delivery>& delivery,
                                                    news::PushServiceKind service, bool accepted) {
  if (!delivery) return std::uint64_t{0};
  if (!delivery->service_split) return std::nullopt;
  const auto& counts =
      accepted ? delivery->counts.accepted_by_service : delivery->counts.targeted_by_service;
  return counts[static_cast<std::size_t>(service)];
}

json::value optional_count(const std::optional<std::uint64_t>& n) {
  return n ? json::value(*n) : json::value(nullptr);
}

// JSON number text of a share, as CSV wants it (no exponent for small values).
std::string share_text(double share) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", share);
  return text;
}

http::Response store_failure(const store::Error& e) {
  return http::error_answer(store::error_kind(e.code), e.message);
}

// The {id} of /api/newsroom/alerts/{id}/events, or 0 when `path` is not such a path.
std::int64_t events_alert_id(std::string_view path) {
  if (!path.starts_with(kAlertsPrefix) || !path.ends_with(kEventsSuffix)) return 0;
  const std::string_view id =
      path.substr(kAlertsPrefix.size(), path.size() - kAlertsPrefix.size() - kEventsSuffix.size());
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != id.npos) return 0;
  std::int64_t value = 0;
  for (const char c : id) value = value * 10 + (c - '0');
  return value;
}

std::string alert_frame(const std::string& body) {
  // The body is serialized JSON: one line, as a data: field needs.
  return "event: alert\ndata: " + body + "\n\n";
}

}  // namespace

TimeToDevice time_to_device(std::span<const std::int64_t> received_at_ms,
                            std::int64_t send_start_ms) {
  TimeToDevice out;
  out.devices = received_at_ms.size();
  if (received_at_ms.empty() || send_start_ms <= 0) return out;
  std::vector<std::int64_t> elapsed;
  elapsed.reserve(received_at_ms.size());
  std::uint64_t within = 0;
  for (const std::int64_t at : received_at_ms) {
    const std::int64_t ms = std::max<std::int64_t>(0, at - send_start_ms);
    elapsed.push_back(ms);
    if (ms <= kTargetMs) ++within;
    const auto bucket =
        std::lower_bound(kTimeToDeviceBoundsMs.begin(), kTimeToDeviceBoundsMs.end(), ms) -
        kTimeToDeviceBoundsMs.begin();
    ++out.histogram[static_cast<std::size_t>(bucket)];
  }
  // Ascending arrival times give ascending elapsed times, but the clamp at 0 keeps the order.
  out.p50_ms = percentile(elapsed, 0.50);
  out.p90_ms = percentile(elapsed, 0.90);
  out.p99_ms = percentile(elapsed, 0.99);
  out.within_120s = static_cast<double>(within) / static_cast<double>(elapsed.size());
  return out;
}

json::object alert_analytics_json(const store::AlertEngagement& engagement,
                                  const store::AlertReach& reach,
                                  const std::optional<news::Delivery>& delivery) {
  const TimeToDevice ttd =
      time_to_device(reach.received_at_ms, delivery ? delivery->started_at_ms : 0);
  json::array histogram;
  for (std::size_t i = 0; i < ttd.histogram.size(); ++i) {
    histogram.push_back(json::object{
        {"le_ms", i < kTimeToDeviceBoundsMs.size() ? json::value(kTimeToDeviceBoundsMs[i])
                                                   : json::value(nullptr)},
        {"count", ttd.histogram[i]}});
  }
  json::object by_service;
  for (const auto service : kServices) {
    by_service[news::push_service_name(service)] =
        json::object{{"targeted", optional_count(delivery_service_count(delivery, service, false))},
                     {"accepted", optional_count(delivery_service_count(delivery, service, true))},
                     {"received", service_count(reach, service, store::AlertEvent::kReceived)},
                     {"displayed", service_count(reach, service, store::AlertEvent::kDisplayed)},
                     {"clicked", service_count(reach, service, store::AlertEvent::kClicked)}};
  }
  return json::object{
      {"funnel", json::object{{"targeted", delivery ? delivery->targeted : 0},
                              {"accepted", delivery ? delivery->counts.sent : 0},
                              {"received", engagement.received},
                              {"displayed", engagement.displayed},
                              {"clicked", engagement.clicked}}},
      {"click_through_rate", engagement.displayed == 0
                                 ? json::value(nullptr)
                                 : json::value(static_cast<double>(engagement.clicked) /
                                               static_cast<double>(engagement.displayed))},
      {"time_to_device",
       json::object{
           {"p50_ms", optional_ms(ttd.p50_ms)},
           {"p90_ms", optional_ms(ttd.p90_ms)},
           {"p99_ms", optional_ms(ttd.p99_ms)},
           {"within_120s", ttd.within_120s ? json::value(*ttd.within_120s) : json::value(nullptr)},
           {"target_met",
            ttd.within_120s ? json::value(*ttd.within_120s >= kTargetShare) : json::value(nullptr)},
           {"devices", ttd.devices},
           {"histogram", std::move(histogram)}}},
      {"by_service", std::move(by_service)}};
}

std::string alert_analytics_csv(std::int64_t alert_id, const store::AlertEngagement& engagement,
                                const store::AlertReach& reach,
                                const std::optional<news::Delivery>& delivery) {
  // Every metric name is our own ASCII without commas or quotes: no field needs quoting.
  std::string out = "metric,value\r\n";
  const auto row = [&out](std::string_view metric, const std::string& value) {
    out.append(metric).append(",").append(value).append("\r\n");
  };
  const auto number = [](std::uint64_t n) { return std::to_string(n); };
  row("alert_id", std::to_string(alert_id));
  row("funnel.targeted", number(delivery ? delivery->targeted : 0));
  row("funnel.accepted", number(delivery ? delivery->counts.sent : 0));
  row("funnel.received", number(engagement.received));
  row("funnel.displayed", number(engagement.displayed));
  row("funnel.clicked", number(engagement.clicked));
  row("funnel.dismissed", number(engagement.dismissed));
  row("click_through_rate", engagement.displayed == 0
                                ? ""
                                : share_text(static_cast<double>(engagement.clicked) /
                                             static_cast<double>(engagement.displayed)));
  const TimeToDevice ttd =
      time_to_device(reach.received_at_ms, delivery ? delivery->started_at_ms : 0);
  const auto ms = [](const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : std::string();
  };
  row("time_to_device.devices", number(ttd.devices));
  row("time_to_device.p50_ms", ms(ttd.p50_ms));
  row("time_to_device.p90_ms", ms(ttd.p90_ms));
  row("time_to_device.p99_ms", ms(ttd.p99_ms));
  row("time_to_device.within_120s", ttd.within_120s ? share_text(*ttd.within_120s) : "");
  for (std::size_t i = 0; i < ttd.histogram.size(); ++i) {
    row(i < kTimeToDeviceBoundsMs.size()
            ? "time_to_device.le_" + std::to_string(kTimeToDeviceBoundsMs[i]) + "_ms"
            : std::string("time_to_device.later"),
        number(ttd.histogram[i]));
  }
  for (const auto service : kServices) {
    const std::string prefix = "by_service." + std::string(news::push_service_name(service));
    const auto count_text = [](const std::optional<std::uint64_t>& n) {
      return n ? std::to_string(*n) : std::string();
    };
    row(prefix + ".targeted", count_text(delivery_service_count(delivery, service, false)));
    row(prefix + ".accepted", count_text(delivery_service_count(delivery, service, true)));
    row(prefix + ".received", number(service_count(reach, service, store::AlertEvent::kReceived)));
    row(prefix + ".displayed",
        number(service_count(reach, service, store::AlertEvent::kDisplayed)));
    row(prefix + ".clicked", number(service_count(reach, service, store::AlertEvent::kClicked)));
  }
  if (delivery) {
    for (std::size_t i = 0; i < delivery->counts.accept_latency.size(); ++i) {
      row(i < news::kAcceptLatencyBoundsMs.size()
              ? "accept_latency.le_" + std::to_string(news::kAcceptLatencyBoundsMs[i]) + "_ms"
              : std::string("accept_latency.later"),
          number(delivery->counts.accept_latency[i]));
    }
  }
  return out;
}

std::string day_text(std::int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

json::object optin_json(std::int64_t from_day, const std::vector<store::OptinCount>& rows) {
  static constexpr std::array<std::string_view, store::kOptinStepCount> kSteps = {
      "shown", "clicked", "granted", "denied", "subscribed", "unsubscribed"};
  static constexpr std::array<std::string_view, store::kPageTypeCount> kPages = {
      "other", "home", "article", "live", "category"};
  std::array<std::uint64_t, store::kOptinStepCount> totals{};
  json::array days;
  for (const store::OptinCount& row : rows) {
    json::object item{
        {"day", day_text(row.day)},
        {"category", row.category == 0
                         ? std::string_view("none")
                         : store::category_name(static_cast<store::Category>(row.category))},
        {"page", kPages[static_cast<std::size_t>(row.page)]}};
    for (std::size_t i = 0; i < kSteps.size(); ++i) {
      item[kSteps[i]] = row.steps[i];
      totals[i] += row.steps[i];
    }
    days.push_back(std::move(item));
  }
  json::object total;
  for (std::size_t i = 0; i < kSteps.size(); ++i) total[kSteps[i]] = totals[i];
  return json::object{
      {"from", day_text(from_day)}, {"days", std::move(days)}, {"totals", std::move(total)}};
}

// --- NewsroomApi: the analytics routes and the alert streams ---

struct NewsroomApi::AlertStreams {
  explicit AlertStreams(const boost::asio::any_io_executor& executor) : timer(executor) {}
  http::LiveStream live;  // readers keyed by alert id
  boost::asio::steady_timer timer;
  bool timer_armed = false;
  bool stopped = false;
  std::map<std::int64_t, std::string> last_sent;  // alert id → the body last streamed
};

void NewsroomApi::AlertStreamsDeleter::operator()(AlertStreams* streams) const { delete streams; }

NewsroomApi::~NewsroomApi() {
  const std::lock_guard lock(streams_mutex_);
  if (streams_) {
    streams_->timer.cancel();
    streams_->live.stop();
  }
}

http::Response NewsroomApi::alert_view(std::int64_t id) {
  auto alert = store_.find_alert(id);
  if (!alert) return store_failure(alert.error());
  if (!alert->has_value()) return http::json_error(Status::not_found, "not_found", "no such alert");
  auto engagement = store_.alert_engagement(id);
  if (!engagement) return store_failure(engagement.error());
  auto reach = store_.alert_reach(id);
  if (!reach) return store_failure(reach.error());
  const auto delivery = queue_.delivery(id);
  json::object out = alert_json(**alert, *engagement, delivery);
  for (auto& [key, value] : alert_analytics_json(*engagement, *reach, delivery))
    out[key] = std::move(value);
  return http::json_response(Status::ok, json::serialize(out));
}

http::Response NewsroomApi::alert_csv(std::int64_t id) {
  auto alert = store_.find_alert(id);
  if (!alert) return store_failure(alert.error());
  if (!alert->has_value()) return http::json_error(Status::not_found, "not_found", "no such alert");
  auto engagement = store_.alert_engagement(id);
  if (!engagement) return store_failure(engagement.error());
  auto reach = store_.alert_reach(id);
  if (!reach) return store_failure(reach.error());
  http::Response response(Status::ok, 11);
  response.set(bhttp::field::content_type, "text/csv; charset=utf-8");
  response.set(bhttp::field::content_disposition,
               "attachment; filename=\"alert-" + std::to_string(id) + "-analytics.csv\"");
  response.body() = alert_analytics_csv(id, *engagement, *reach, queue_.delivery(id));
  response.prepare_payload();
  return response;
}

http::Response NewsroomApi::optin(std::string_view target) {
  std::int64_t days = 30;
  if (const std::size_t question = target.find('?'); question != std::string_view::npos) {
    const std::string_view query = target.substr(question + 1);
    if (!query.starts_with("days=") || query.find('&') != std::string_view::npos) {
      return http::json_error(Status::bad_request, "invalid_field",
                              "days: the only parameter, a whole number from 1 to 90");
    }
    const std::string_view text = query.substr(5);
    days = 0;
    if (text.empty() || text.size() > 2 || text.find_first_not_of("0123456789") != text.npos)
      days = -1;
    for (const char c : text) days = days < 0 ? days : days * 10 + (c - '0');
    if (days < 1 || days > kMaxOptinDays) {
      return http::json_error(Status::bad_request, "invalid_field",
                              "days: a whole number from 1 to 90");
    }
  }
  const std::int64_t from_day = clock_.now_seconds() / 86'400 - (days - 1);
  auto rows = store_.optin_counts(from_day);
  if (!rows) return store_failure(rows.error());
  return http::json_response(Status::ok, json::serialize(optin_json(from_day, *rows)));
}

bool NewsroomApi::accepts_stream(const http::Request& request) const {
  if (request.method() != bhttp::verb::get) return false;
  const std::string_view target = request.target();
  return events_alert_id(target.substr(0, target.find('?'))) > 0;
}

void NewsroomApi::start_stream(boost::beast::tcp_stream stream, http::Request request,
                               const http::RequestContext& context) {
  const std::lock_guard lock(streams_mutex_);
  if (!streams_) streams_.reset(new AlertStreams(stream.get_executor()));
  AlertStreams& streams = *streams_;
  const std::string_view target = request.target();
  const std::string_view events_path = target.substr(0, target.find('?'));
  const std::int64_t id = events_alert_id(events_path);
  // The stream is authorized exactly as GET alerts/{id} is (token, lock-out, scope, audit of
  // failures), by asking that route: its answer is a refusal to pass on, or the first event.
  const std::string alert_path(events_path.substr(0, events_path.size() - kEventsSuffix.size()));
  http::Request probe = request;
  probe.target(alert_path);
  http::Response first = answer(probe, alert_path, context.remote_address);
  first.version(request.version());
  first.set(bhttp::field::cache_control, "no-store");
  first.set("X-Content-Type-Options", "nosniff");
  if (first.result() == Status::ok && (streams.stopped || !streams.live.accepting())) {
    first = http::json_error(Status::service_unavailable, "too_many_streams",
                             "too many open alert streams; try again shortly");
    first.set(bhttp::field::retry_after, "5");
    first.set(bhttp::field::cache_control, "no-store");
  }
  if (first.result() != Status::ok) {
    streams.live.refuse(std::move(stream), std::move(first));
    return;
  }
  http::Response head(Status::ok, request.version());
  head.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
  head.set(bhttp::field::cache_control, "no-store");
  head.set("X-Content-Type-Options", "nosniff");
  head.set("X-Accel-Buffering", "no");
  streams.live.add_reader(std::move(stream), std::move(head), id, {});
  // Every reader gets the current state first; later ones only when it changes.
  streams.live.publish_frame(id, alert_frame(first.body()));
  streams.last_sent[id] = first.body();
  if (!streams.timer_armed) {
    streams.timer_armed = true;
    streams.timer.expires_after(kStreamRefresh);
    streams.timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the API may be gone
      refresh_streams();
    });
  }
}

void NewsroomApi::refresh_streams() {
  const std::lock_guard lock(streams_mutex_);
  AlertStreams& streams = *streams_;
  streams.timer_armed = false;
  if (streams.stopped) return;
  const auto began = std::chrono::steady_clock::now();
  for (auto it = streams.last_sent.begin(); it != streams.last_sent.end();) {
    if (streams.live.readers_of(it->first) == 0) {
      it = streams.last_sent.erase(it);
      continue;
    }
    http::Response now = alert_view(it->first);
    if (now.result() == Status::ok && now.body() != it->second) {
      streams.live.publish_frame(it->first, alert_frame(now.body()));
      it->second = now.body();
    }
    ++it;
  }
  if (streams.last_sent.empty()) return;
  // This runs on the server's thread: an alert with a very large audience makes each look
  // longer (one row per device), so the looks space out to keep them under a tenth of the time.
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - began);
  streams.timer_armed = true;
  streams.timer.expires_after(std::max(kStreamRefresh, took * kStreamLoadFactor));
  streams.timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    refresh_streams();
  });
}

void NewsroomApi::stop_streams() {
  const std::lock_guard lock(streams_mutex_);
  if (!streams_) return;
  streams_->stopped = true;
  streams_->timer.cancel();
  streams_->live.stop();
}

}  // namespace flashwire::newsroom
