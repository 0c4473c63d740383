#include "datasets/dataset.h"

namespace smlab::datasets {

void register_synthetic();
void register_hdf5_images();
void register_text_tsv();
void register_moving_mnist();
void register_clips();
void register_csv_table();
void register_time_series_windows();

void register_builtin() {
  register_synthetic();
  register_hdf5_images();
  register_text_tsv();
  register_moving_mnist();
  register_clips();
  register_csv_table();
  register_time_series_windows();
  expose(registry());
}

}  // namespace smlab::datasets
