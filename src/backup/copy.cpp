// Copying recovery points between repositories (issue 6). Placeholder until the copy lands.
#include "backup/state.hpp"

namespace streamgate::backup {

Result<std::unique_ptr<Repository>> Repository::OpenOrCreateMirror(std::shared_ptr<BlobStore>,
                                                                   const Repository&,
                                                                   const Clock&) {
  return MakeError(ErrorCode::kFailedPrecondition, "repository mirrors are not implemented yet");
}

Result<CopyResult> Repository::CopyTo(Repository&, const CopyRequest&) const {
  return MakeError(ErrorCode::kFailedPrecondition, "copying points is not implemented yet");
}

}  // namespace streamgate::backup
