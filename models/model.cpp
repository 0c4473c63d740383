#include "models/model.h"

namespace smlab::models {

ComponentRegistry<ModelFactory>& registry() {
  static ComponentRegistry<ModelFactory> r("model");
  return r;
}

ModelPtr build(const config::Config& cfg, const datasets::DatasetInfo& info) {
  return registry().get(cfg.name_of("model")).make(cfg, info);
}

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

int64_t output_width(const datasets::DatasetInfo& info) {
  return info.task == datasets::Task::Classification ? info.num_classes : info.output_dim;
}

void register_mlp();
void register_small_cnn();
void register_text_cnn();
void register_resnet();
void register_cifar_resnet();
void register_vgg();
void register_mobilenet_v2();
void register_densenet();
void register_efficientnet();

void register_builtin() {
  register_mlp();
  register_small_cnn();
  register_text_cnn();
  register_resnet();
  register_cifar_resnet();
  register_vgg();
  register_mobilenet_v2();
  register_densenet();
  register_efficientnet();
  expose(registry());
}

}  // namespace smlab::models
