#include "datasets/tokenizer.h"

#include <dlfcn.h>

#include "smlab/build_info.h"
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <unistd.h>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"

namespace smlab::datasets {
namespace {

// SentencePiece's trainer is loaded on first use with RTLD_LOCAL instead of being linked: Debian's
// libsentencepiece_train exports its own instances of std:: templates, and once it sits in the
// global symbol scope libc10 binds to them and TorchScript's first forward deadlocks (in
// c10::GetEventSampledHandler). Kept local, nothing else can bind to it.
using TrainFn = sentencepiece::util::Status (*)(const std::unordered_map<std::string, std::string>&,
                                                sentencepiece::SentenceIterator*, std::string*);

TrainFn trainer_entry() {
  static TrainFn fn = [] {
    void* h = ::dlopen(SMLAB_SPM_TRAIN_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) throw UserError(std::string("cannot load SentencePiece's trainer: ") + ::dlerror());
    // sentencepiece::SentencePieceTrainer::Train(const std::unordered_map<std::string, std::string>&,
    //                                            SentenceIterator*, std::string*)
    void* sym = ::dlsym(h,
                        "_ZN13sentencepiece20SentencePieceTrainer5TrainERKSt13unordered_mapINSt7__cxx1112basic_string"
                        "IcSt11char_traitsIcESaIcEEES7_St4hashIS7_ESt8equal_toIS7_ESaISt4pairIKS7_S7_EEEPNS_16Sentence"
                        "IteratorEPS7_");
    if (!sym) throw UserError(std::string("SentencePiece's trainer lacks Train(map, iterator, string*): ") + ::dlerror());
    return reinterpret_cast<TrainFn>(sym);
  }();
  return fn;
}

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::filesystem::path& model) {
  if (!std::filesystem::exists(model)) throw UserError(model.string() + ": tokenizer model not found");
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = t->sp_->Load(model.string());
  if (!status.ok()) throw UserError(model.string() + ": cannot load SentencePiece model (" + status.ToString() + ")");
  t->path_ = model;
  return t;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_bytes(const std::string& bytes, const std::string& name) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = t->sp_->LoadFromSerializedProto(bytes);
  if (!status.ok()) throw UserError(name + ": cannot load SentencePiece model (" + status.ToString() + ")");
  t->path_ = name;
  return t;
}

Tokenizer::~Tokenizer() = default;

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw UserError(path_.string() + ": cannot encode text (" + status.ToString() + ")");
  return ids;
}

torch::Tensor Tokenizer::encode_batch(const std::vector<std::string>& texts, int64_t max_len, int64_t pad) const {
  auto out = torch::full({static_cast<int64_t>(texts.size()), max_len}, pad, torch::kInt64);
  auto* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = encode(texts[i]);
    const size_t n = std::min<size_t>(ids.size(), static_cast<size_t>(max_len));
    for (size_t j = 0; j < n; ++j) p[i * max_len + j] = ids[j];
  }
  return out;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int Tokenizer::pad_id() const { return sp_->pad_id(); }
int Tokenizer::unk_id() const { return sp_->unk_id(); }
std::string Tokenizer::piece(int id) const { return sp_->IdToPiece(id); }
bool Tokenizer::is_special(int id) const { return sp_->IsControl(id) || sp_->IsUnknown(id) || sp_->IsUnused(id); }

}  // namespace smlab::datasets

// libsentencepiece exports these (sentencepiece/src/common.h) but installs no header for them.
namespace sentencepiece::logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

namespace smlab::datasets {

void train_tokenizer(const TokenizerTrainOptions& o) {
  if (!std::filesystem::exists(o.input)) throw UserError(o.input.string() + ": training text not found");
  if (o.model_prefix.empty()) throw UsageError("--model-prefix is required");
  if (o.vocab_size < 4) throw UsageError("--vocab-size must be at least 4");
  std::unordered_map<std::string, std::string> kw = {
      {"input", o.input.string()},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"model_type", o.model_type},
      {"normalization_rule_name", o.normalization},
      {"character_coverage", std::to_string(o.character_coverage)},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"num_threads", std::to_string(std::max(1, o.threads))},
      {"hard_vocab_limit", "false"},
  };
  if (o.input_sentence_size > 0) {
    kw["input_sentence_size"] = std::to_string(o.input_sentence_size);
    kw["shuffle_input_sentence"] = "true";
  }
  // The model comes back serialized (nothing is written by SentencePiece); both files are then
  // written atomically here.
  std::string proto;
  // The trainer's per-iteration LOG(INFO) lines would bury smlab's own output: warnings and
  // errors only (SMLAB_SPM_VERBOSE=1 keeps them all).
  const int log_level = sentencepiece::logging::GetMinLogLevel();
  if (!std::getenv("SMLAB_SPM_VERBOSE")) sentencepiece::logging::SetMinLogLevel(std::max(log_level, 1));
  const auto status = trainer_entry()(kw, nullptr, &proto);
  sentencepiece::logging::SetMinLogLevel(log_level);
  if (!status.ok()) throw UserError("SentencePiece training on " + o.input.string() + " failed: " + status.ToString());
  sentencepiece::SentencePieceProcessor sp;
  if (const auto st = sp.LoadFromSerializedProto(proto); !st.ok())
    throw std::runtime_error("SentencePiece produced an unreadable model: " + st.ToString());
  std::ostringstream vocab;
  for (int i = 0; i < sp.GetPieceSize(); ++i) vocab << sp.IdToPiece(i) << "\t" << sp.GetScore(i) << "\n";
  write_file_atomic(o.model_prefix + ".vocab", vocab.str());
  write_file_atomic(o.model_prefix + ".model", proto);
}

}  // namespace smlab::datasets

namespace smlab::datasets {

void train_tokenizer(const std::vector<std::string>& texts, TokenizerTrainOptions o) {
  if (o.model_prefix.empty()) throw UsageError("--model-prefix is required");
  if (texts.empty()) throw UserError("no texts to train a tokenizer on (" + o.model_prefix + ")");
  const std::filesystem::path prefix(o.model_prefix);
  if (prefix.has_parent_path()) std::filesystem::create_directories(prefix.parent_path());
  std::string corpus;
  for (const auto& t : texts) {
    std::string line = t;
    for (auto& c : line)
      if (c == '\n' || c == '\r') c = ' ';
    corpus += line;
    corpus += '\n';
  }
  o.input = o.model_prefix + ".corpus." + std::to_string(::getpid()) + ".txt";
  write_file_atomic(o.input, corpus);
  try {
    train_tokenizer(o);
  } catch (...) {
    std::filesystem::remove(o.input);
    throw;
  }
  std::filesystem::remove(o.input);
}

}  // namespace smlab::datasets
