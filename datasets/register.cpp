#include "datasets/dataset.h"

namespace smlab::datasets {

void register_synthetic();

void register_builtin() {
  register_synthetic();
  expose(registry());
}

}  // namespace smlab::datasets
