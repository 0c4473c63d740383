#include "models/model.h"

#include <torch/torch.h>

#include <map>

namespace smlab::models {

Registry<ModelComponent>& registry() {
  static Registry<ModelComponent> r("model");
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

torch::Tensor channels_last(const torch::Tensor& t) {
  if (t.dim() == 4) return t.contiguous(at::MemoryFormat::ChannelsLast);
  if (t.dim() == 5) return t.contiguous(at::MemoryFormat::ChannelsLast3d);
  return t;
}

void to_channels_last(Model& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters())
    if (p.dim() == 4 || p.dim() == 5) p.set_data(channels_last(p.data()));
}

InputKind input_kind(const std::string& model) { return registry().get(model).input; }

datasets::DatasetInfo example_info(InputKind kind, int64_t outputs) {
  datasets::DatasetInfo info;
  info.task = datasets::Task::Classification;
  info.num_classes = outputs;
  switch (kind) {
    case InputKind::Image: info.input_shape = {3, 32, 32}; break;
    case InputKind::Video: info.input_shape = {3, 8, 32, 32}; break;
    case InputKind::Tokens:
      info.input_shape = {16};
      info.vocab_size = 100;
      break;
    case InputKind::Features: info.input_shape = {16}; break;
    case InputKind::Series:
      info.task = datasets::Task::Regression;
      info.num_classes = 0;
      info.output_dim = outputs;
      info.input_shape = {24, 1};
      break;
  }
  for (int64_t c = 0; c < info.num_classes; ++c) info.class_names.push_back("class" + std::to_string(c));
  return info;
}

torch::Tensor example_input(const datasets::DatasetInfo& info, int64_t batch) {
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), info.input_shape.begin(), info.input_shape.end());
  if (info.vocab_size > 0) return torch::randint(1, info.vocab_size, shape, torch::kLong);
  return torch::randn(shape);
}

void register_mlp();
void register_small_cnn();
void register_text_cnn();
void register_bilstm();
void register_transformer_text();
void register_resnet();
void register_cifar_resnet();
void register_airbench();
void register_vgg();
void register_mobilenet_v2();
void register_densenet();
void register_efficientnet();
void register_video_resnet();
void register_c3d();
void register_resnext3d();
void register_frame_2d();
void register_lstm_forecaster();

void register_builtin() {
  register_mlp();
  register_small_cnn();
  register_text_cnn();
  register_bilstm();
  register_transformer_text();
  register_resnet();
  register_cifar_resnet();
  register_airbench();
  register_vgg();
  register_mobilenet_v2();
  register_densenet();
  register_efficientnet();
  register_video_resnet();
  register_c3d();
  register_resnext3d();
  register_frame_2d();
  register_lstm_forecaster();
  expose(registry());
}

}  // namespace smlab::models
