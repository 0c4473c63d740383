// The output-writer registry of `smlab score` (writers.h).
#include "inference/writers.h"
#include "inference/uncertainty.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/hdf5_io.h"
#include "inference/journal.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using nlohmann::json;

datasets::h5::Array h5_array(const std::string& name, const torch::Tensor& t) {
  datasets::h5::Array a;
  a.name = name;
  a.dims = t.sizes().vec();
  if (t.is_floating_point()) {
    const auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
    a.f32.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  } else {
    a.type = datasets::h5::Array::I64;
    const auto c = t.to(torch::kCPU, torch::kLong).contiguous();
    a.i64.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  }
  return a;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// Class probabilities and their top k of a chunk (classification), or the values (regression).
struct Scored {
  torch::Tensor values;        ///< probabilities [n, C] or regression values [n, W], float contiguous
  torch::Tensor top_p, top_i;  ///< [n, K]
  torch::Tensor emb;           ///< [n, D] or undefined
  torch::Tensor unc;           ///< [n] float64 with RowFormat::uncertainty, else undefined
};

Scored scored(const RowFormat& f, const torch::Tensor& y, const torch::Tensor& emb) {
  Scored s;
  const auto out = y.to(torch::kFloat).contiguous();
  if (f.output.classification()) {
    s.values = f.output.outputs == OutputKind::Probabilities ? out
                                                             : torch::softmax(out / f.output.temperature, 1).contiguous();
    std::tie(s.top_p, s.top_i) = s.values.topk(f.top_k, 1);
    s.top_p = s.top_p.contiguous();
    s.top_i = s.top_i.contiguous();
    if (!f.uncertainty.empty()) s.unc = prediction_uncertainty(s.values, f.uncertainty).contiguous();
  } else {
    s.values = out;
  }
  if (f.embed_dim > 0) s.emb = emb.to(torch::kFloat).contiguous();
  return s;
}

/// Text writers join their parts by concatenation (CSV keeps the first part's header only).
int64_t assemble_text(const std::vector<fs::path>& parts, const fs::path& output, const std::string& header) {
  std::string all = header;
  for (const auto& p : parts) append_file(all, p, !header.empty());
  write_file_atomic(output, all);
  return std::count(all.begin(), all.end(), '\n') - (header.empty() ? 0 : 1);
}

class CsvWriter : public OutputWriter {
 public:
  explicit CsvWriter(RowFormat f) : f_(std::move(f)) {}

  std::string header() const {
    std::string h = "id";
    if (f_.output.classification()) {
      h += ",label,confidence,top_k";
      for (const auto& c : f_.output.classes) (h += ',') += csv_field("p_" + c);
      if (!f_.uncertainty.empty()) h += ",uncertainty";
    } else {
      for (int64_t j = 0; j < f_.output.dim; ++j) h += ",value_" + std::to_string(j);
    }
    for (int64_t j = 0; j < f_.embed_dim; ++j) h += ",e_" + std::to_string(j);
    return h + "\n";
  }

  std::string chunk(const std::vector<std::string>& ids, const std::vector<int64_t>&, const torch::Tensor& y,
                    const torch::Tensor& emb) const override {
    const auto s = scored(f_, y, emb);
    const int64_t W = f_.output.dim, K = f_.top_k, D = f_.embed_dim;
    const float* pv = s.values.data_ptr<float>();
    const auto& classes = f_.output.classes;
    std::string dst = header();
    for (size_t r = 0; r < ids.size(); ++r) {
      const float* row = pv + r * W;
      dst += csv_field(ids[r]);
      if (f_.output.classification()) {
        const int64_t* ti = s.top_i.data_ptr<int64_t>() + r * K;
        const float* tp = s.top_p.data_ptr<float>() + r * K;
        std::string top;
        for (int64_t k = 0; k < K; ++k) {
          if (k) top += ';';
          ((top += classes.at(ti[k])) += ':') += num(tp[k]);
        }
        ((((((dst += ',') += csv_field(classes.at(ti[0]))) += ',') += num(tp[0])) += ',') += csv_field(top));
      }
      for (int64_t k = 0; k < W; ++k) (dst += ',') += num(row[k]);
      if (s.unc.defined()) (dst += ',') += num(static_cast<float>(s.unc.data_ptr<double>()[r]));
      for (int64_t k = 0; k < D; ++k) (dst += ',') += num(s.emb.data_ptr<float>()[r * D + k]);
      dst += "\n";
    }
    return dst;
  }

  int64_t assemble(const std::vector<fs::path>& parts, const fs::path& output) const override {
    return assemble_text(parts, output, header());
  }

 private:
  RowFormat f_;
};

class JsonlWriter : public OutputWriter {
 public:
  explicit JsonlWriter(RowFormat f) : f_(std::move(f)) {}

  std::string chunk(const std::vector<std::string>& ids, const std::vector<int64_t>&, const torch::Tensor& y,
                    const torch::Tensor& emb) const override {
    const auto s = scored(f_, y, emb);
    const int64_t W = f_.output.dim, K = f_.top_k, D = f_.embed_dim;
    const float* pv = s.values.data_ptr<float>();
    const auto& classes = f_.output.classes;
    std::string dst;
    for (size_t r = 0; r < ids.size(); ++r) {
      const float* row = pv + r * W;
      json j{{"id", ids[r]}};
      if (f_.output.classification()) {
        const int64_t* ti = s.top_i.data_ptr<int64_t>() + r * K;
        const float* tp = s.top_p.data_ptr<float>() + r * K;
        json top = json::array();
        for (int64_t k = 0; k < K; ++k) top.push_back({{"label", classes.at(ti[k])}, {"p", tp[k]}});
        json probs = json::object();
        for (int64_t k = 0; k < W; ++k) probs[classes.at(k)] = row[k];
        j["label"] = classes.at(ti[0]);
        j["confidence"] = tp[0];
        j["top_k"] = top;
        j["probs"] = probs;
        if (s.unc.defined()) j["uncertainty"] = s.unc.data_ptr<double>()[r];
      } else {
        j["values"] = std::vector<float>(row, row + W);
      }
      if (D > 0) j["embedding"] = std::vector<float>(s.emb.data_ptr<float>() + r * D, s.emb.data_ptr<float>() + (r + 1) * D);
      dst += j.dump() + "\n";
    }
    return dst;
  }

  int64_t assemble(const std::vector<fs::path>& parts, const fs::path& output) const override {
    return assemble_text(parts, output, "");
  }

 private:
  RowFormat f_;
};

/// HDF5: each part is a pickled (ids, positions, outputs, embeddings) tuple, joined into one .h5.
class Hdf5Writer : public OutputWriter {
 public:
  explicit Hdf5Writer(RowFormat f) : f_(std::move(f)) {}

  std::string chunk(const std::vector<std::string>& ids, const std::vector<int64_t>& positions, const torch::Tensor& y,
                    const torch::Tensor& emb) const override {
    c10::impl::GenericList list(c10::StringType::get());
    for (const auto& id : ids) list.push_back(id);
    const auto e = f_.embed_dim > 0 ? emb.to(torch::kFloat) : torch::empty({y.size(0), 0});
    const auto bytes = torch::pickle_save(c10::ivalue::Tuple::create(
        {c10::IValue(list), torch::tensor(positions, torch::kLong).view({-1}), y.to(torch::kFloat), e}));
    return std::string(bytes.begin(), bytes.end());
  }

  int64_t assemble(const std::vector<fs::path>& parts, const fs::path& output) const override {
    std::vector<std::string> ids;
    std::vector<torch::Tensor> pos, ys, es;
    for (const auto& p : parts) {
      const auto bytes = read_file(p);
      const auto t = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toTuple();
      for (const auto& id : t->elements().at(0).toListRef()) ids.push_back(id.toStringRef());
      pos.push_back(t->elements().at(1).toTensor());
      ys.push_back(t->elements().at(2).toTensor());
      es.push_back(t->elements().at(3).toTensor());
    }
    auto cat = [](const std::vector<torch::Tensor>& v, torch::Tensor empty) { return v.empty() ? empty : torch::cat(v, 0); };
    const int64_t n = static_cast<int64_t>(ids.size());
    datasets::h5::write_arrays(output, arrays(std::move(ids), cat(pos, torch::empty({0}, torch::kLong)),
                                              cat(ys, torch::empty({0, f_.output.dim})),
                                              cat(es, torch::empty({0, f_.embed_dim}))));
    return n;
  }

 private:
  std::vector<datasets::h5::Array> arrays(std::vector<std::string> ids, const torch::Tensor& positions,
                                          const torch::Tensor& y, const torch::Tensor& emb) const {
    using datasets::h5::Array;
    const int64_t n = static_cast<int64_t>(ids.size());
    auto floats = [](const std::string& name, const torch::Tensor& t) { return h5_array(name, t.to(torch::kFloat)); };
    auto ints = [](const std::string& name, const torch::Tensor& t) { return h5_array(name, t.to(torch::kLong)); };
    std::vector<Array> v;
    v.push_back(Array{Array::Str, "ids", {n}, {}, {}, std::move(ids)});
    v.push_back(ints("positions", positions));
    const auto s = scored(f_, y, emb);
    if (f_.output.classification()) {
      v.push_back(floats("probabilities", s.values));
      v.push_back(ints("top_k_indices", s.top_i));
      v.push_back(floats("top_k_probabilities", s.top_p));
      v.push_back(Array{Array::Str, "classes", {static_cast<int64_t>(f_.output.classes.size())}, {}, {}, f_.output.classes});
      if (s.unc.defined()) v.push_back(floats("uncertainty", s.unc));
    } else {
      v.push_back(floats("values", s.values));
    }
    if (f_.embed_dim > 0) v.push_back(floats("embeddings", s.emb));
    return v;
  }

  RowFormat f_;
};

}  // namespace

Registry<OutputWriterEntry>& writer_registry() {
  static Registry<OutputWriterEntry> r("output format");
  return r;
}

void register_writers() {
  auto& r = writer_registry();
  r.add("csv", {"one CSV row per input: id, label, confidence, top_k, p_<class>... (regression: value_<j>)",
                {".csv"}, true, true, [](const RowFormat& f) { return std::make_unique<CsvWriter>(f); }});
  r.add("jsonl", {"one JSON object per input: id, label, confidence, top_k, probs (regression: values)",
                  {".jsonl"}, false, true, [](const RowFormat& f) { return std::make_unique<JsonlWriter>(f); }});
  r.add("hdf5", {"one HDF5 file: ids, positions, probabilities, top_k_indices, top_k_probabilities, classes",
                 {".h5", ".hdf5"}, false, false, [](const RowFormat& f) { return std::make_unique<Hdf5Writer>(f); }});
}

std::string detect_output_format(const fs::path& output, const std::string& requested) {
  if (fs::is_directory(output))
    throw UsageError("--output " + output.string() + " is a directory; give the file to write, e.g. " +
                     (output / "scores.csv").string());
  if (requested == "h5") return "hdf5";
  if (requested != "auto") {
    writer_registry().get(requested);  // unknown names: the registry's error
    return requested;
  }
  const auto ext = output.extension().string();
  for (const auto& [name, w] : writer_registry().entries())
    if (std::find(w.extensions.begin(), w.extensions.end(), ext) != w.extensions.end()) return name;
  throw UsageError(output.string() +
                   ": cannot tell the output format from the extension; use .csv, .jsonl or .h5 or pass --output-format");
}

}  // namespace smlab::inference
