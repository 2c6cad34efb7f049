// The live desk's part of the newsroom API (routes in the table of newsroom_api.cc, documented
// in newsroom_api.h): correct, delete and pin a live event's updates, and preview Markdown as
// readers will see it.
//
// An update is addressed as /live/{slug}/updates/{id}: the id must be an update of that event,
// so a slip in one of them cannot change another event. Every change is audited and announced
// (news::ContentEvents::live_update_changed), which the site turns into Server-Sent Events for
// the readers who have the event open.
#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "newsroom/newsroom_api.h"
#include "newsroom/newsroom_call.h"
#include "store/error_kind.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
using http::Status;
using LiveChange = news::ContentEvents::LiveChange;

constexpr std::size_t kMaxLiveUpdateBytes = 20 * 1000;  // as for posting (newsroom_api.cc)

http::Response error(Status status, std::string_view code, std::string_view message) {
  return http::json_error(status, code, message);
}
http::Response invalid(std::string_view message) {
  return error(Status::bad_request, "invalid_field", message);
}
http::Response store_failure(const store::Error& e) {
  return http::error_answer(store::error_kind(e.code), e.message);
}
http::Response json_ok(const json::value& value) {
  return http::json_response(Status::ok, json::serialize(value));
}
http::Response no_event() {
  return error(Status::not_found, "not_found", "no live event with this slug");
}
http::Response no_update() {
  return error(Status::not_found, "not_found", "no such update in this live event");
}

// The Markdown of an update, checked as for posting; an error message when it is not fit.
std::optional<std::string> markdown_problem(const json::object& body, std::string* text) {
  const json::value* value = body.if_contains("body_markdown");
  if (value == nullptr || value->is_null()) return "body_markdown: required";
  if (!value->is_string()) return "body_markdown: must be a string";
  *text = std::string(value->as_string());
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) return "body_markdown: required";
  if (text->size() > kMaxLiveUpdateBytes)
    return "body_markdown: at most " + std::to_string(kMaxLiveUpdateBytes / 1000) + " KB";
  const bool control = std::any_of(text->begin(), text->end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\r' && c != '\t') || u == 0x7F;
  });
  if (control) return "body_markdown: no control characters other than tabs and line breaks";
  return std::nullopt;
}

}  // namespace

json::object NewsroomApi::live_update_json(const store::LiveUpdate& u) const {
  return json::object{
      {"id", u.id},
      {"body_markdown", u.body_markdown},
      {"html",
       options_.render_markdown ? options_.render_markdown(u.body_markdown) : std::string()},
      {"created_at", u.created_at},
      {"created_by", u.created_by},
      {"edited_at", u.edited_at == 0 ? json::value(nullptr) : json::value(u.edited_at)},
      {"pinned", u.pinned},
      {"revision", u.revision}};
}

// The event of the call's {slug} and its update {id}: both must exist, the update must belong to
// the event and not be deleted. On failure, `answer` holds the response.
struct NewsroomApi::LiveTarget {
  store::Article event;
  store::LiveUpdate update;
  std::optional<http::Response> answer;
};

NewsroomApi::LiveTarget NewsroomApi::live_target(Call& call) {
  LiveTarget target;
  auto event = store_.find_article_by_slug(std::string(call.slug));
  if (!event) return {{}, {}, store_failure(event.error())};
  if (!event->has_value() || (*event)->category != store::Category::kLive)
    return {{}, {}, no_event()};
  auto update = store_.find_live_update(call.id);
  if (!update) return {{}, {}, store_failure(update.error())};
  if (!update->has_value() || (*update)->article_id != (*event)->id || (*update)->deleted)
    return {{}, {}, no_update()};
  target.event = std::move(**event);
  target.update = std::move(**update);
  return target;
}

// After a change: the update as stored now (for the answer and the readers).
http::Response NewsroomApi::after_live_change(Call& call, const LiveTarget& target,
                                              LiveChange change, std::string action) {
  auto now = store_.find_live_update(target.update.id);
  if (!now) return store_failure(now.error());
  if (!now->has_value()) return no_update();
  record(call, std::move(action), target.event.slug + ", #" + std::to_string(target.update.id));
  events_.live_update_changed(target.event, **now, change);
  return json_ok(live_update_json(**now));
}

http::Response NewsroomApi::edit_live_update(Call& call) {
  std::string text;
  if (auto problem = markdown_problem(call.body, &text)) return invalid(*problem);
  LiveTarget target = live_target(call);
  if (target.answer) return std::move(*target.answer);
  if (text == target.update.body_markdown) return json_ok(live_update_json(target.update));
  auto edited = store_.edit_live_update(target.update.id, text, clock_.now_seconds());
  if (!edited && edited.error().code == store::ErrorCode::kNotFound) return no_update();
  if (!edited) return store_failure(edited.error());
  return after_live_change(call, target, LiveChange::kEdited, "live.edit");
}

http::Response NewsroomApi::delete_live_update(Call& call) {
  LiveTarget target = live_target(call);
  if (target.answer) return std::move(*target.answer);
  auto deleted = store_.delete_live_update(target.update.id);
  if (!deleted && deleted.error().code == store::ErrorCode::kNotFound) return no_update();
  if (!deleted) return store_failure(deleted.error());
  return after_live_change(call, target, LiveChange::kDeleted, "live.delete");
}

http::Response NewsroomApi::pin_live_update(Call& call) {
  LiveTarget target = live_target(call);
  if (target.answer) return std::move(*target.answer);
  if (target.update.pinned) return json_ok(live_update_json(target.update));
  auto pinned = store_.pin_live_update(target.event.id, target.update.id);
  if (!pinned && pinned.error().code == store::ErrorCode::kNotFound) return no_update();
  if (!pinned) return store_failure(pinned.error());
  return after_live_change(call, target, LiveChange::kPinned, "live.pin");
}

http::Response NewsroomApi::unpin_live_update(Call& call) {
  LiveTarget target = live_target(call);
  if (target.answer) return std::move(*target.answer);
  // Only the pinned update can be unpinned; anything else is already as asked.
  if (!target.update.pinned) return json_ok(live_update_json(target.update));
  auto unpinned = store_.pin_live_update(target.event.id, 0);
  if (!unpinned) return store_failure(unpinned.error());
  return after_live_change(call, target, LiveChange::kUnpinned, "live.unpin");
}

http::Response NewsroomApi::preview_markdown(Call& call) {
  std::string text;
  if (auto problem = markdown_problem(call.body, &text)) return invalid(*problem);
  // The renderer readers' pages use, so the preview is exactly what they will see.
  if (!options_.render_markdown) {
    return error(Status::service_unavailable, "preview_unavailable",
                 "this server renders no previews");
  }
  return json_ok(json::object{{"html", options_.render_markdown(text)}});
}

}  // namespace flashwire::newsroom
