// A test send: one alert to one editor's own subscription (news::TestPusher), through the
// fan-out's own pipeline (fanout/pipeline.h) with a source of one target, so that encryption,
// VAPID signing, the push-host policy, vendor limits and the reading of answers are exactly an
// alert's fan-out — there is no second sending code.
//
// Differences from a fan-out, all for an editor waiting on the answer: one sender thread, at
// most two attempts within about 20 seconds, no Topic (a test must not replace a real alert
// waiting at the push service), and the payload marked as a test (fanout/engine.h,
// alert_payload).
//
// Thread safety: push() may be called from several threads at once; each call runs a pipeline
// of its own (the VAPID token cache and the random source are shared, and are thread-safe).
#pragma once

#include <string>

#include "fanout/pipeline.h"
#include "news/test_push.h"

namespace flashwire::fanout {

struct TestSendConfig {
  std::string icon_url;      // absolute URL of the notification icon, as the engine's
  PipelineOptions pipeline;  // the fan-out's options (transports, CA, message size)
};

class TestSender final : public news::TestPusher {
 public:
  // The references in `deps` are not owned and must outlive the sender.
  TestSender(TestSendConfig config, PipelineDeps deps);

  news::TestPushResult push(const news::Alert& alert, const std::string& image_url,
                            const news::PushTarget& target) override;

 private:
  TestSendConfig config_;
  PipelineDeps deps_;
};

}  // namespace flashwire::fanout
