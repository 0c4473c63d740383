// `smlab tokenizer train|encode`: SentencePiece models for the text datasets.
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/tokenizer.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb tokenizer_verb() {
  VerbSpec s;
  s.name = "tokenizer";
  s.summary = "train a SentencePiece tokenizer, or encode text with one";
  s.description =
      "train:  trains on --input (one sentence per line) and writes <model-prefix>.model and .vocab\n"
      "        (atomically). Id 0 is padding, 1 is unknown; no BOS/EOS.\n"
      "encode: prints the ids of each line of --input, space-separated, one line per input line\n"
      "        (to --output when given, written atomically).";
  s.positionals = {{"action", "train or encode"}};
  s.flags = {{"input", "FILE", "text file, one sentence per line", ""},
             {"model-prefix", "P", "train: output prefix (writes P.model, P.vocab)", ""},
             {"vocab-size", "N", "train: vocabulary size", "8000"},
             {"model-type", "TYPE", "train: unigram, bpe, word or char", "unigram"},
             {"character-coverage", "F", "train: share of characters covered", "0.9995"},
             {"input-sentence-size", "N", "train: sample at most N sentences (0 = all)", "0"},
             {"model", "FILE", "encode: the .model file", ""},
             {"output", "FILE", "encode: write ids here instead of stdout", ""}};
  s.examples = {"smlab tokenizer train --input tweets.txt --model-prefix tok/tweets --vocab-size 8000",
                "smlab tokenizer encode --model tok/tweets.model --input tweets.txt"};
  return {s, [](const Args& args) {
            const std::string action = args.positional(0);
            if (args.get("input").empty()) throw UsageError("--input is required");
            if (action == "train") {
              datasets::TokenizerTrainOptions o;
              o.input = args.get("input");
              o.model_prefix = args.get("model-prefix");
              o.vocab_size = args.get_int("vocab-size");
              o.model_type = args.get("model-type");
              if (o.model_type != "unigram" && o.model_type != "bpe" && o.model_type != "word" && o.model_type != "char")
                throw UsageError("--model-type must be unigram, bpe, word or char");
              o.character_coverage = args.get_double("character-coverage");
              o.input_sentence_size = args.get_int("input-sentence-size");
              datasets::train_tokenizer(o);
              std::cout << "wrote " << o.model_prefix << ".model and " << o.model_prefix << ".vocab\n";
              return 0;
            }
            if (action == "encode") {
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
            throw UsageError("unknown action '" + action + "' (train or encode)");
          }};
}

}  // namespace smlab::cli
