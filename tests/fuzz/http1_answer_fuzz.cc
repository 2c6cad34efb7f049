// The built-in HTTP/1.1 client's answer parser (fanout/http1_client.h, through its
// detail::parse_answers_for_fuzzing seam) on any bytes a push service could send. The first two
// input bytes give how many requests were written and the size of the pieces the bytes arrive
// in. Properties: the answers found do not depend on how the bytes are cut (up to where the
// input turns out malformed); there are never more
// answers than requests; no interim (1xx) answer is taken as final; every Retry-After
// goes through parse_retry_after without harm.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fanout/http1_client.h"
#include "fanout/outcome.h"
#include "fuzz_check.h"

using namespace flashwire::fanout;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t requests = data[0] % 8 + 1;
  const std::size_t piece = data[1] + 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  constexpr std::size_t kLimit = 4096;

  const auto whole = detail::parse_answers_for_fuzzing(bytes, requests, bytes.size(), kLimit);
  const auto cut = detail::parse_answers_for_fuzzing(bytes, requests, piece, kLimit);
  FUZZ_CHECK(whole.answers.size() <= requests && cut.answers.size() <= requests,
             "no more answers than requests");
  // Beast checks a head only once all of it is there: bytes cut into pieces can still be "need
  // more" where the whole input is already known to be malformed. The answers found before that
  // point must agree, and two clean parses must agree on everything.
  const std::size_t common = std::min(whole.answers.size(), cut.answers.size());
  for (std::size_t i = 0; i < common; ++i) {
    FUZZ_CHECK(whole.answers[i].status == cut.answers[i].status &&
                   whole.answers[i].retry_after == cut.answers[i].retry_after,
               "the same answers however the bytes are cut");
  }
  if (!whole.broken && !cut.broken) {
    FUZZ_CHECK(whole.answers.size() == cut.answers.size() && whole.closed == cut.closed,
               "the same answers however the bytes are cut");
  }
  for (const auto& answer : whole.answers) {
    // Beast reads any three digits ("021" is 21); outside 1xx each is final, and one that means
    // nothing (below 100) is a failure to classify_response.
    FUZZ_CHECK(answer.status >= 0 && answer.status <= 999 &&
                   (answer.status == 101 || answer.status < 100 || answer.status >= 200),
               "a final answer has a three-digit, non-interim status");
    const Outcome outcome = classify_response(answer.status, answer.retry_after, 1796520000);
    if (answer.status < 100) FUZZ_CHECK(outcome.kind == OutcomeKind::kFailed, "nonsense fails");
  }
  return 0;
}
