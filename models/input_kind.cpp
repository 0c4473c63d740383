// input_kind_name (model.h), on its own so that the artifact and reader parsers link without the
// model code (tests/fuzz/).
#include "models/model.h"

namespace smlab::models {

std::string input_kind_name(InputKind kind) {
  switch (kind) {
    case InputKind::Image: return "image";
    case InputKind::Video: return "video";
    case InputKind::Tokens: return "tokens";
    case InputKind::Features: return "features";
    case InputKind::Series: return "series";
  }
  return "?";
}

}  // namespace smlab::models
