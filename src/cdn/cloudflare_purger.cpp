// Cloudflare: POST {base}/client/v4/zones/{zone}/purge_cache with one of
// {"files": [...]}, {"tags": [...]}, {"prefixes": [...]} or {"purge_everything": true};
// the answer is {"success": bool, "errors": [{"code": n, "message": "..."}], ...}.
#include <nlohmann/json.hpp>
#include <utility>

#include "cdn/purger_http.hpp"

namespace streamgate::cdn::purger_internal {
namespace {

using nlohmann::json;

// "Authentication error [10000]; Invalid zone [7003]" from a Cloudflare error answer; empty when
// the body is not one.
std::string CloudflareErrors(const json& answer) {
  std::string out;
  if (!answer.is_object()) return out;
  const auto errors = answer.find("errors");
  if (errors == answer.end() || !errors->is_array()) return out;
  for (const json& error : *errors) {
    std::string text;
    if (error.is_object()) {
      if (auto m = error.find("message"); m != error.end() && m->is_string()) {
        text = m->get<std::string>();
      }
      if (auto c = error.find("code"); c != error.end() && c->is_number_integer()) {
        const std::string code = std::to_string(c->get<long long>());
        text = text.empty() ? "code " + code : text + " [" + code + "]";
      }
    } else if (error.is_string()) {
      text = error.get<std::string>();
    }
    if (text.empty()) continue;
    if (!out.empty()) out += "; ";
    out += Snippet(text);
  }
  return out;
}

class CloudflarePurger final : public Purger {
 public:
  CloudflarePurger(HttpOptions options, std::string zone_id, std::size_t per_request)
      : options_(std::move(options)),
        endpoint_(options_.base_url + "/client/v4/zones/" + zone_id + "/purge_cache"),
        per_request_(per_request) {}

  std::string_view provider() const override { return "cloudflare"; }

  Status PurgeUrls(std::span<const std::string> urls) override {
    if (auto valid = ValidateUrls(urls); !valid) return valid;
    return PurgeList("files", Unique(urls));
  }

  Status PurgeTags(std::span<const std::string> tags) override {
    if (auto valid = ValidateItems("tags", tags); !valid) return valid;
    return PurgeList("tags", Unique(tags));
  }

  Status PurgePrefixes(std::span<const std::string> prefixes) override {
    if (auto valid = ValidateItems("prefixes", prefixes); !valid) return valid;
    std::vector<std::string> stripped;
    stripped.reserve(prefixes.size());
    for (const std::string& prefix : prefixes) {
      const std::string_view rest = StripScheme(prefix);
      if (rest.empty() || rest.front() == '/') {
        return InvalidArgument("purge prefixes: '" + Snippet(prefix, 80) +
                               "' must start with a host (example.com/path/)");
      }
      stripped.emplace_back(rest);
    }
    return PurgeList("prefixes", Unique(stripped));
  }

  Status PurgeAll() override {
    PostClient client(options_);
    return Send(client, "purge_cache purge_everything", json{{"purge_everything", true}});
  }

 private:
  Status PurgeList(const std::string& field, const std::vector<std::string>& items) {
    PostClient client(options_);
    return ForEachBatch(
        items, per_request_,
        [&](std::span<const std::string> batch, std::size_t index, std::size_t count) -> Status {
          std::string what = "purge_cache " + field;
          if (count > 1) {
            what += " (request " + std::to_string(index + 1) + " of " + std::to_string(count) + ")";
          }
          json body = json::object();
          body[field] = json(std::vector<std::string>(batch.begin(), batch.end()));
          return Send(client, what, body);
        });
  }

  Status Send(PostClient& client, const std::string& what, const json& body) {
    PostRequest request;
    request.what = what;
    request.url = endpoint_;
    request.headers = {"Content-Type: application/json", "Accept: application/json"};
    request.body = body.dump();
    auto reply = client.Post(request);
    if (!reply) return std::unexpected(reply.error());

    const json answer = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
    const std::string errors = CloudflareErrors(answer);
    const bool success = answer.is_object() && answer.contains("success") &&
                         answer["success"].is_boolean() && answer["success"].get<bool>();
    const std::string attempts = " (" + std::to_string(reply->attempts) +
                                 (reply->attempts == 1 ? " attempt)" : " attempts)");
    if (reply->status >= 200 && reply->status < 300) {
      if (success) return {};
      // A 2xx that is not {"success": true}: Cloudflare reports a refused purge this way too.
      return MakeError(
          ErrorCode::kUnavailable,
          "cloudflare " + what + ": HTTP " + std::to_string(reply->status) + ": " +
              (errors.empty() ? "answer without \"success\": true: " + Snippet(reply->body)
                              : errors) +
              attempts);
    }
    return MakeError(CodeForStatus(reply->status),
                     "cloudflare " + what + ": HTTP " + std::to_string(reply->status) + ": " +
                         (errors.empty() ? Snippet(reply->body) : errors) + attempts);
  }

  HttpOptions options_;
  std::string endpoint_;
  std::size_t per_request_;
};

}  // namespace

std::unique_ptr<Purger> MakeCloudflarePurger(HttpOptions options, std::string zone_id,
                                             std::size_t per_request) {
  return std::make_unique<CloudflarePurger>(std::move(options), std::move(zone_id), per_request);
}

}  // namespace streamgate::cdn::purger_internal
