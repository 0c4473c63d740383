// Weight import from TorchScript files, e.g. torchvision models saved from Python with
//   torch.jit.script(torchvision.models.resnet50(weights=...).eval()).save("r50.pt")
// Parameters and buffers (BatchNorm running statistics included) are matched by their dotted
// names, which the smlab image models keep identical to torchvision's state_dict keys.
#pragma once
#include <torch/nn/module.h>

#include <filesystem>
#include <string>
#include <vector>

namespace smlab::models {

/// Copies every named parameter and buffer of the TorchScript module in `torchscript_file`
/// into the same-named tensor of `m` (converted to the target's dtype and device).
///
/// In strict mode, names of `m` missing from the file, names in the file that `m` lacks, and
/// shape mismatches throw smlab::UserError listing the first few offenders of each kind with
/// their counts; nothing is copied then. With strict=false missing and unexpected names are
/// skipped, but a shape mismatch is still an error (as in PyTorch's load_state_dict).
/// An unreadable file also throws UserError.
///
/// Example:
///   auto net = smlab::models::build(cfg, info);                 // model.name: resnet50
///   smlab::models::import_weights(*net, "resnet50_torchvision.pt");
void import_weights(torch::nn::Module& m, const std::filesystem::path& torchscript_file, bool strict = true);

/// A tensor's shape as the weight-loading reports print it: "[64, 3, 7, 7]".
std::string shape_str(const torch::Tensor& t);

/// "a, b, c (and 7 more)" for the first `n` of `items`: the reports' lists of tensor names.
std::string first_few(const std::vector<std::string>& items, size_t n = 5);

}  // namespace smlab::models
