// `smlab tokenizer train|encode`: SentencePiece models for the text datasets.
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/config.h"
#include "core/text.h"
#include "tools/register_all.h"
#include "datasets/text_tsv.h"
#include "datasets/tokenizer.h"
#include "tools/cli/cli.h"

namespace smlab::cli {
namespace {

datasets::TokenizerTrainOptions train_options(const Args& args) {
  datasets::TokenizerTrainOptions o;
  o.input = args.get("input");
  o.model_prefix = args.get("model-prefix");
  o.vocab_size = args.get_int("vocab-size");
  o.model_type = args.get("model-type");
  if (o.model_type != "unigram" && o.model_type != "bpe" && o.model_type != "word" && o.model_type != "char")
    throw UsageError("--model-type must be unigram, bpe, word or char");
  o.character_coverage = args.get_double("character-coverage");
  o.normalization = args.get("normalization");
  if (o.normalization != "nmt_nfkc" && o.normalization != "nfkc" && o.normalization != "nmt_nfkc_cf" &&
      o.normalization != "nfkc_cf" && o.normalization != "identity")
    throw UsageError("--normalization must be nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf or identity");
  o.input_sentence_size = args.get_int("input-sentence-size");
  return o;
}

/// train --config A[,B...]: one tokenizer over every config's training split, and --texts-out.
void train_on_configs(const Args& args, const datasets::TokenizerTrainOptions& o) {
  const auto overrides = overrides_from(args, 1);
  register_all();
  std::vector<std::string> texts;
  std::string tsv;  // --texts-out: <experiment.name>:<row> TAB <experiment.name> TAB text
  const auto files = text::split(args.get("config"), ',');
  for (const std::string& file : files) {
    if (file.empty()) throw UsageError("--config '" + args.get("config") + "' has an empty entry");
    const auto cfg = config::load(file, overrides);
    if (cfg.name_of("data") != "text_tsv")
      throw UsageError(file + ": data.name is '" + cfg.name_of("data") + "', --config needs text_tsv");
    auto train = datasets::read_text_split(cfg, datasets::Split::Train);
    std::cerr << "[smlab] " << train.report << (files.size() > 1 ? " [" + file + "]" : "") << "\n";
    if (!args.get("texts-out").empty()) {
      const std::string name = cfg.get<std::string>("experiment.name");
      for (size_t i = 0; i < train.texts.size(); ++i) {
        std::string t = train.texts[i];
        for (char& c : t)
          if (c == '\t' || c == '\n' || c == '\r') c = ' ';
        tsv += name + ":" + std::to_string(i) + "\t" + name + "\t" + t + "\n";
      }
    }
    texts.insert(texts.end(), std::make_move_iterator(train.texts.begin()), std::make_move_iterator(train.texts.end()));
  }
  std::cerr << "[smlab] tokenizer: " << texts.size() << " training texts in all\n";
  datasets::train_tokenizer(texts, o);
  if (!args.get("texts-out").empty()) {
    write_file_atomic(args.get("texts-out"), tsv);
    std::cout << "wrote " << texts.size() << " texts to " << args.get("texts-out") << "\n";
  }
}

int encode(const Args& args) {
  if (args.get("model").empty()) throw UsageError("--model is required");
  const auto tok = datasets::Tokenizer::load(args.get("model"));
  std::ifstream in(args.get("input"), std::ios::binary);
  if (!in) throw UserError(args.get("input") + ": cannot read");
  std::ostringstream out;
  for (std::string line; std::getline(in, line);) {
    const auto ids = tok->encode(line);
    for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
    out << "\n";
  }
  if (args.get("output").empty()) std::cout << out.str();
  else write_file_atomic(args.get("output"), out.str());
  return 0;
}

}  // namespace

Verb tokenizer_verb() {
  VerbSpec s;
  s.name = "tokenizer";
  s.summary = "train a SentencePiece tokenizer, or encode text with one";
  s.description =
      "train:  trains on --input (one sentence per line), or with --config on the training split of a\n"
      "        text_tsv experiment (its texts after data.normalize, data.exclude/exclude_eval and\n"
      "        data.dedup, i.e. exactly what the model trains on; key=value overrides apply), or of\n"
      "        several, comma-separated (one tokenizer shared by a pretraining and a fine-tuning task), and\n"
      "        writes <model-prefix>.model and .vocab (atomically). Id 0 is padding, 1 is unknown;\n"
      "        no BOS/EOS.\n"
      "encode: prints the ids of each line of --input, space-separated, one line per input line\n"
      "        (to --output when given, written atomically).";
  s.positionals = {{"action", "train or encode"},
                   {"key=value", "train --config: config overrides, e.g. data.normalize=none", false, true}};
  s.flags = {{"input", "FILE", "text file, one sentence per line", ""},
             {"config", "FILE[,FILE...]",
              "train: text_tsv experiment configs whose training texts to use (all of them) instead of --input", ""},
             {"model-prefix", "P", "train: output prefix (writes P.model, P.vocab)", ""},
             {"vocab-size", "N", "train: vocabulary size", "8000"},
             {"model-type", "TYPE", "train: unigram, bpe, word or char", "unigram"},
             {"character-coverage", "F", "train: share of characters covered", "0.9995"},
             {"normalization", "RULE", "train: nmt_nfkc, nfkc, nmt_nfkc_cf or nfkc_cf (case-folded), identity", "nmt_nfkc"},
             {"input-sentence-size", "N", "train: sample at most N sentences (0 = all)", "0"},
             {"texts-out", "FILE", "train --config: also write the training texts as TSV (row<TAB>experiment.name<TAB>text), e.g. "
              "for masked-piece pretraining (data.objective: masked_piece) on exactly these texts", ""},
             {"model", "FILE", "encode: the .model file", ""},
             {"output", "FILE", "encode: write ids here instead of stdout", ""}};
  s.examples = {"smlab tokenizer train --input tweets.txt --model-prefix tok/tweets --vocab-size 8000",
                "smlab tokenizer train --config experiments/sentiment/text_cnn.yaml --model-prefix tok/sent8k --vocab-size 8000 --normalization nmt_nfkc_cf",
                "smlab tokenizer train --config experiments/sentiment/bilstm.yaml,experiments/pretrain/emoji_bilstm.yaml "
                "--model-prefix runs/tokenizers/tweets8k --normalization nmt_nfkc_cf",
                "smlab tokenizer encode --model tok/tweets.model --input tweets.txt"};
  return {s, [](const Args& args) {
            const std::string action = args.positional(0);
            if (action == "train" && !args.get("config").empty()) {
              if (!args.get("input").empty()) throw UsageError("give --input or --config, not both");
            } else if (args.get("input").empty()) {
              throw UsageError("--input is required");
            }
            if (!args.get("texts-out").empty() && (action != "train" || args.get("config").empty()))
              throw UsageError("--texts-out goes with train --config");
            if (action != "train" && args.positionals().size() > 1)
              throw UsageError("key=value overrides only go with train --config");
            if (action == "train") {
              auto o = train_options(args);
              if (args.get("config").empty()) datasets::train_tokenizer(o);
              else train_on_configs(args, o);
              std::cout << "wrote " << o.model_prefix << ".model and " << o.model_prefix << ".vocab\n";
              return 0;
            }
            if (action == "encode") return encode(args);
            throw UsageError("unknown action '" + action + "' (train or encode)");
          }};
}

}  // namespace smlab::cli
