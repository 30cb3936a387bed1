// Fastly: POST {base}/purge/{host/path} for a URL, POST {base}/service/{id}/purge/{key} for one
// surrogate key, POST {base}/service/{id}/purge with {"surrogate_keys": [...]} for up to 256,
// POST {base}/service/{id}/purge_all. Errors come as {"msg": "...", "detail": "..."}.
#include <nlohmann/json.hpp>
#include <utility>

#include "cdn/purger_http.hpp"

namespace streamgate::cdn::purger_internal {
namespace {

using nlohmann::json;

// "Bad request: Service not found" from a Fastly error answer; empty when the body is not one.
std::string FastlyError(const std::string& body) {
  const json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) return "";
  std::string out;
  for (const char* field : {"msg", "message", "detail"}) {
    const auto it = answer.find(field);
    if (it == answer.end() || !it->is_string() || it->get<std::string>().empty()) continue;
    if (!out.empty()) out += ": ";
    out += Snippet(it->get<std::string>());
  }
  return out;
}

class FastlyPurger final : public Purger {
 public:
  FastlyPurger(HttpOptions options, std::string service_id, std::size_t keys_per_request,
               bool soft_purge)
      : options_(std::move(options)),
        service_url_(options_.base_url + "/service/" + service_id),
        keys_per_request_(keys_per_request),
        soft_purge_(soft_purge) {}

  std::string_view provider() const override { return "fastly"; }

  Status PurgeUrls(std::span<const std::string> urls) override {
    if (auto valid = ValidateUrls(urls); !valid) return valid;
    // Fastly has no batch URL purge: one request per URL, on one kept-alive connection.
    PostClient client(options_);
    return ForEachBatch(
        Unique(urls), 1, [&](std::span<const std::string> one, std::size_t, std::size_t) {
          std::string_view target = StripScheme(one.front());
          target = target.substr(0, target.find('#'));  // never sent to a CDN
          return Send(client, "purge url " + std::string(target),
                      options_.base_url + "/purge/" + std::string(target), "", soft_purge_);
        });
  }

  Status PurgeTags(std::span<const std::string> tags) override {
    if (auto valid = ValidateItems("tags", tags); !valid) return valid;
    PostClient client(options_);
    return ForEachBatch(
        Unique(tags), keys_per_request_,
        [&](std::span<const std::string> keys, std::size_t index, std::size_t count) -> Status {
          if (keys.size() == 1) {
            return Send(client, "purge key " + keys.front(),
                        service_url_ + "/purge/" + EscapeSegment(keys.front()), "", soft_purge_);
          }
          std::string what = "purge " + std::to_string(keys.size()) + " keys";
          if (count > 1) {
            what += " (request " + std::to_string(index + 1) + " of " + std::to_string(count) + ")";
          }
          const json body = {
              {"surrogate_keys", std::vector<std::string>(keys.begin(), keys.end())}};
          return Send(client, what, service_url_ + "/purge", body.dump(), soft_purge_);
        });
  }

  Status PurgePrefixes(std::span<const std::string>) override {
    return FailedPrecondition(
        "fastly has no prefix purge: tag responses with Surrogate-Key and purge the tags");
  }

  Status PurgeAll() override {
    PostClient client(options_);
    // Fastly documents purge_all as never soft, so the soft header is not sent.
    return Send(client, "purge_all", service_url_ + "/purge_all", "", /*soft=*/false);
  }

 private:
  Status Send(PostClient& client, std::string what, std::string url, std::string body, bool soft) {
    PostRequest request;
    request.what = std::move(what);
    request.url = std::move(url);
    request.headers = {"Accept: application/json"};
    // An empty "Content-Type:" stops libcurl adding its form type to a body-less POST.
    request.headers.emplace_back(body.empty() ? "Content-Type:" : "Content-Type: application/json");
    if (soft) request.headers.emplace_back("Fastly-Soft-Purge: 1");
    request.body = std::move(body);
    auto reply = client.Post(request);
    if (!reply) return std::unexpected(reply.error());
    if (reply->status >= 200 && reply->status < 300) return {};
    const std::string error = FastlyError(reply->body);
    return MakeError(CodeForStatus(reply->status),
                     "fastly " + request.what + ": HTTP " + std::to_string(reply->status) + ": " +
                         (error.empty() ? Snippet(reply->body) : error) + " (" +
                         std::to_string(reply->attempts) +
                         (reply->attempts == 1 ? " attempt)" : " attempts)"));
  }

  HttpOptions options_;
  std::string service_url_;
  std::size_t keys_per_request_;
  bool soft_purge_;
};

}  // namespace

std::unique_ptr<Purger> MakeFastlyPurger(HttpOptions options, std::string service_id,
                                         std::size_t keys_per_request, bool soft_purge) {
  return std::make_unique<FastlyPurger>(std::move(options), std::move(service_id), keys_per_request,
                                        soft_purge);
}

}  // namespace streamgate::cdn::purger_internal
