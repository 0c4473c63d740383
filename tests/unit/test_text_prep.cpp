// Tweet normalisation, the de-duplication key, hashed character n-grams, and the text_tsv
// options built on them (normalize, exclude_eval, exclude, dedup, tokenizer: auto, char_ngrams,
// objective: masked_piece)
// on small generated files with hand-counted outcomes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <numeric>
#include <set>

#include "core/atomic_file.h"
#include "core/config.h"
#include "tools/register_all.h"
#include "datasets/masked_pieces.h"
#include "datasets/text_prep.h"
#include "datasets/text_tsv.h"
#include "datasets/tokenizer.h"
#include "models/model.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;

TEST(TextPrep, NormalizeTweetFollowsTweetEval) {
  // Cases seen in SemEval-2017 vs TweetEval's sentiment test text.
  EXPECT_EQ(normalize_tweet("\"@bob: see https://t.co/x  now"), "@user see now");
  EXPECT_EQ(normalize_tweet("Pro-Tipp \"@transl8oratwork: Funny yet true!  #translation https://t.co/a https://t.co/b\" #xl8"),
            "Pro-Tipp @user Funny yet true! #translation #xl8");
  EXPECT_EQ(normalize_tweet("RIGHT AND LEFT@georgesoros gives $70M"), "RIGHT AND LEFT@georgesoros gives $70M");
  EXPECT_EQ(normalize_tweet("#fcblive [@Anass_Edits] (@mundo) #LiLohttps://t.co/x"), "#fcblive [@Anass_Edits] (@mundo) #LiLohttps://t.co/x");
  EXPECT_EQ(normalize_tweet("a @ b @@x http"), "a @ b @user");
  EXPECT_EQ(normalize_tweet("  tab\there\r\nand  there "), "tab here and there");
  EXPECT_EQ(normalize_tweet("https://t.co/only"), "");
  EXPECT_EQ(normalize_tweet("@user already"), "@user already");  // idempotent on TweetEval text
}

TEST(TextPrep, MatchKeyIgnoresCaseQuotesEscapesEntitiesMentionsAndLinks) {
  const std::string a = "\"Don\\u2019t &amp; GO!!  @someone http://x.co\"";
  const std::string b = "don\xE2\x80\x99t & go @user";
  EXPECT_EQ(match_key(a), match_key(b));
  EXPECT_EQ(match_key(b), "don\xE2\x80\x99t" "go" "user");
  EXPECT_NE(match_key("Hello"), match_key("Hello world"));
  EXPECT_NE(match_key("caf\xC3\xA9"), match_key("cafe"));  // non-ASCII letters are kept as they are
}

namespace {

// A tiny SentencePiece model over a repetitive corpus (trains in well under a second).
fs::path tiny_tokenizer(const fs::path& dir, int vocab = 60) {
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) {
    // Built in place with += (GCC 12 misreports moving `"literal" + std::string&&` as an over-read).
    std::string& line = lines.emplace_back("the good day then the bad night ");
    line += std::to_string(i % 7);
    line += " then good things happen";
  }
  TokenizerTrainOptions o;
  o.model_prefix = (dir / ("tok" + std::to_string(vocab))).string();
  o.vocab_size = vocab;
  train_tokenizer(lines, o);
  return o.model_prefix + ".model";
}

}  // namespace

TEST(TextPrep, CharNgramTableHashesEachPieceOnce) {
  const auto dir = smlab::testing::temp_dir();
  const auto tok = Tokenizer::load(tiny_tokenizer(dir));
  const int64_t v = tok->vocab_size(), buckets = 97;
  int64_t truncated = -1;
  const auto table = char_ngram_table(*tok, {3}, buckets, 8, &truncated);
  ASSERT_EQ(table.sizes().vec(), (std::vector<int64_t>{v, 8}));
  // Control pieces (padding 0, unknown 1) have no n-grams; the others only ids in [V, V + buckets).
  EXPECT_EQ(table[0].abs().sum().item<int64_t>(), 0);
  EXPECT_EQ(table[1].abs().sum().item<int64_t>(), 0);
  const auto used = table.slice(0, 2);
  EXPECT_TRUE(((used == 0) | ((used >= v) & (used < v + buckets))).all().item<bool>());
  // A piece of c code points has c trigrams ("<" + piece + ">" has c + 2 code points). When piece q
  // extends piece p, the c - 1 trigrams of p that do not reach its ">" are q's first c - 1 too.
  auto code_points = [](const std::string& s) {
    int64_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
    return n;
  };
  int64_t pairs = 0;
  for (int p = 2; p < v; ++p) {
    const std::string ps = tok->piece(p);
    const int64_t c = code_points(ps);
    EXPECT_EQ((table[p] != 0).sum().item<int64_t>(), std::min<int64_t>(c, 8)) << ps;
    for (int q = 2; q < v && c >= 2 && c <= 8; ++q) {
      const std::string qs = tok->piece(q);
      if (q == p || qs.size() <= ps.size() || qs.compare(0, ps.size(), ps) != 0) continue;
      EXPECT_TRUE(torch::equal(table[p].slice(0, 0, c - 1), table[q].slice(0, 0, c - 1))) << ps << " / " << qs;
      ++pairs;
    }
  }
  EXPECT_GT(pairs, 0) << "no piece extends another in the test vocabulary";
  EXPECT_GE(truncated, 0);
  // With room for only 2 per piece, every piece (c >= 1 code points has 2c + 1 bi- and trigrams)
  // keeps 2 (its first two bigrams), and all are counted as truncated.
  int64_t cut = 0;
  const auto small = char_ngram_table(*tok, {2, 3}, buckets, 2, &cut);
  EXPECT_TRUE(((small.slice(0, 2) != 0).sum(1) == 2).all().item<bool>());
  EXPECT_EQ(cut, v - 2);
}

namespace {

struct Files {
  fs::path dir, train, val_text, test_text;
};

// train.tsv: 10 rows; val (TweetEval layout) shares 2 texts with train; test shares 1.
Files write_files() {
  Files f;
  f.dir = smlab::testing::temp_dir();
  f.train = f.dir / "train.tsv";
  smlab::write_file_atomic(f.train,
                           "1\tpositive\tgood day @alice http://t.co/1\n"         // = val 0 (mention/link differ)
                           "2\tnegative\tbad night\n"                              // duplicate of 3 (same label)
                           "3\tnegative\t\"Bad  night\"\n"
                           "4\tpositive\tthings happen\n"                          // conflicts with 5
                           "5\tneutral\tTHINGS HAPPEN!\n"
                           "6\tneutral\tthe day then\n"                            // = test 1
                           "7\tpositive\tgood things\n"
                           "8\tneutral\tthen the night\n"
                           "9\tnegative\tbad things happen\n"
                           "10\tpositive\tgood good day\\u2019\n");               // = val 1 after unescape
  f.val_text = f.dir / "val_text.txt";
  smlab::write_file_atomic(f.val_text, "good day @user \nGood good day\xE2\x80\x99 \nnight night \n");
  smlab::write_file_atomic(f.dir / "val_labels.txt", "2\n2\n1\n");
  smlab::write_file_atomic(f.dir / "mapping.txt", "0\tnegative\n1\tneutral\n2\tpositive\n");
  f.test_text = f.dir / "test_text.txt";
  smlab::write_file_atomic(f.test_text, "the day, then!\nbad day\n");
  smlab::write_file_atomic(f.dir / "test_labels.txt", "1\n0\n");
  return f;
}

smlab::config::Config text_config(const Files& f, std::vector<std::string> over) {
  smlab::register_all();
  return smlab::config::load_string(
      "model: {name: text_cnn}\ndata: {name: text_tsv, train: " + f.train.string() + ", val: " + f.val_text.string() +
          ", test: " + f.test_text.string() + ", tokenizer: auto, tokenizer_vocab: 40, tokenizer_cache: " +
          (f.dir / "tok").string() + ", unescape: true, max_len: 8}\n",
      "t.yaml", over);
}

}  // namespace

TEST(TextTsv, ExcludeEvalAndDedupRemoveWhatTheyShould) {
  const auto f = write_files();
  {
    const auto all = read_text_split(text_config(f, {}), Split::Train);
    EXPECT_EQ(all.texts.size(), 10u);
    EXPECT_EQ(all.classes, (std::vector<std::string>{"negative", "neutral", "positive"}));
    EXPECT_EQ(all.texts[0], "good day @alice http://t.co/1");  // normalize: none leaves texts alone
  }
  const auto cfg = text_config(f, {"data.normalize=tweeteval", "data.exclude_eval=true", "data.dedup=true"});
  const auto d = read_text_split(cfg, Split::Train);
  // Removed: rows 1 and 10 (val), 6 (test); rows 2/3 merge into 2; rows 4/5 disagree: both dropped.
  const std::vector<std::string> want = {"bad night", "good things", "then the night", "bad things happen"};
  EXPECT_EQ(d.texts, want);
  EXPECT_EQ(d.labels, (std::vector<int64_t>{0, 2, 1, 0}));
  EXPECT_NE(d.report.find("10 records"), std::string::npos) << d.report;
  const std::string dir = f.dir.filename().string();
  EXPECT_NE(d.report.find("3 removed as texts of " + dir + "/val_text.txt, " + dir + "/test_text.txt"), std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("1 duplicate copies merged, 2 records of 1 texts with conflicting labels dropped"),
            std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("-> 4 (negative 2 neutral 1 positive 1)"), std::string::npos) << d.report;
  // Evaluation splits are only normalised.
  const auto v = read_text_split(cfg, Split::Val);
  EXPECT_EQ(v.texts, (std::vector<std::string>{"good day @user", "Good good day\xE2\x80\x99", "night night"}));
  EXPECT_EQ(v.labels, (std::vector<int64_t>{2, 2, 1}));
  // An explicit exclude list works without exclude_eval.
  const auto e = read_text_split(text_config(f, {"data.exclude=[" + f.test_text.string() + "]"}), Split::Train);
  EXPECT_EQ(e.texts.size(), 9u);
}

TEST(TextTsv, AutoTokenizerIsTrainedOnTheTrainingTextsOnceAndCached) {
  const auto f = write_files();
  const auto cfg = text_config(f, {"data.normalize=tweeteval", "data.exclude_eval=true", "data.dedup=true"});
  const auto p1 = resolve_tokenizer(cfg);
  ASSERT_TRUE(fs::exists(p1));
  EXPECT_EQ(p1.parent_path(), f.dir / "tok");
  const auto t1 = fs::last_write_time(p1);
  EXPECT_EQ(resolve_tokenizer(cfg), p1);
  EXPECT_EQ(fs::last_write_time(p1), t1);  // reused, not retrained
  // No leftover corpus file; a different vocabulary or different training texts give another model.
  int files = 0;
  for (const auto& e : fs::directory_iterator(f.dir / "tok")) files += e.path().extension() == ".txt";
  EXPECT_EQ(files, 0);
  EXPECT_NE(resolve_tokenizer(text_config(f, {"data.normalize=tweeteval", "data.exclude_eval=true", "data.dedup=true",
                                              "data.tokenizer_vocab=30"})),
            p1);
  EXPECT_NE(resolve_tokenizer(text_config(f, {"data.normalize=tweeteval"})), p1);
  // The dataset reports the resolved model.
  const auto ds = build(cfg, Split::Test);
  EXPECT_EQ(ds->info().tokenizer, p1.string());
  EXPECT_EQ(ds->size(), 2);
}

TEST(TextTsv, CharNgramsGiveTheModelsATableAndKeepInputsAsIds) {
  const auto f = write_files();
  const auto cfg = text_config(f, {"data.char_ngrams=[3]", "data.ngram_buckets=50", "data.ngrams_per_piece=6"});
  const auto ds = build(cfg, Split::Train);
  const auto& info = ds->info();
  EXPECT_EQ(info.input_shape, (std::vector<int64_t>{8}));
  ASSERT_TRUE(info.piece_ngrams.defined());
  EXPECT_EQ(info.piece_ngrams.sizes().vec(), (std::vector<int64_t>{info.vocab_size, 6}));
  EXPECT_EQ(info.ngram_buckets, 50);
  const auto tok = Tokenizer::load(info.tokenizer);
  EXPECT_TRUE(torch::equal(info.piece_ngrams, char_ngram_table(*tok, {3}, 50, 6)));
  // A model built on it trains a step.
  auto m = smlab::models::build(cfg, info);
  const auto b = ds->get({0, 1, 2});
  torch::nn::functional::cross_entropy(m->forward(b.input), b.target).backward();
}

TEST(TextTsv, TrimBatchesCutsOnlyAllPaddingColumns) {
  const auto f = write_files();
  const auto full = build(text_config(f, {"data.max_len=40"}), Split::Train);
  const auto trim = build(text_config(f, {"data.max_len=40", "data.trim_batches=true"}), Split::Train);
  for (const std::vector<int64_t>& idx : {std::vector<int64_t>{0, 1}, {4}, {2, 3, 9}}) {
    const auto a = full->get(idx).input, b = trim->get(idx).input;
    const int64_t longest = (a != 0).sum(1).max().item<int64_t>();
    ASSERT_GT(longest, 0);
    ASSERT_LT(longest, 40);
    EXPECT_EQ(b.size(1), longest);
    EXPECT_TRUE(torch::equal(b, a.narrow(1, 0, longest)));
    EXPECT_EQ(a.narrow(1, longest, 40 - longest).abs().sum().item<int64_t>(), 0);
  }
}

// data.objective: masked_piece. Oracle: the same config with the default objective gives the
// unmasked ids; each masked row must equal them except at exactly one real position, which holds
// the unknown piece, and the target must be the piece that was there.
TEST(TextTsv, MaskedPieceHidesOneRealPieceAndTargetsIt) {
  const auto f = write_files();
  const std::vector<std::string> base = {"data.max_len=12"};
  auto over = base;
  over.push_back("data.objective=masked_piece");
  const auto plain = build(text_config(f, base), Split::Train);
  const auto masked = build(text_config(f, over), Split::Train);
  const auto& info = masked->info();
  EXPECT_EQ(info.num_classes, info.vocab_size);
  ASSERT_EQ(static_cast<int64_t>(info.class_names.size()), info.vocab_size);
  EXPECT_EQ(info.class_names[5], Tokenizer::load(info.tokenizer)->piece(5));
  std::vector<int64_t> all(static_cast<size_t>(plain->size()));
  std::iota(all.begin(), all.end(), 0);
  const auto x0 = plain->get(all).input;
  std::map<int64_t, std::set<int64_t>> seen;  // row -> positions hidden over the epochs
  for (int64_t epoch = 1; epoch <= 40; ++epoch) {
    masked->set_epoch(epoch);
    const auto b = masked->get(all);
    ASSERT_EQ(b.input.sizes(), x0.sizes());
    for (int64_t r = 0; r < x0.size(0); ++r) {
      const auto diff = (b.input[r] != x0[r]).nonzero().flatten();
      const int64_t len = (x0[r] != 0).sum().item<int64_t>();
      ASSERT_GT(len, 0);
      if (diff.numel() == 0) {  // the hidden piece was the unknown piece itself
        const auto unk = (x0[r] == kMaskPiece).nonzero().flatten();
        ASSERT_GT(unk.numel(), 0) << "row " << r << " epoch " << epoch << ": nothing hidden";
        EXPECT_EQ(b.target[r].item<int64_t>(), kMaskPiece);
        continue;
      }
      ASSERT_EQ(diff.numel(), 1) << "row " << r << " epoch " << epoch;
      const int64_t p = diff[0].item<int64_t>();
      EXPECT_LT(p, len);
      EXPECT_EQ(b.input[r][p].item<int64_t>(), kMaskPiece);
      EXPECT_EQ(b.target[r].item<int64_t>(), x0[r][p].item<int64_t>());
      EXPECT_EQ(p, MaskedPieceDataset::position(0, epoch, r, len));
      seen[r].insert(p);
    }
    // The same epoch draws the same (exact resume).
    EXPECT_TRUE(torch::equal(masked->get(all).input, b.input));
  }
  // Over 40 epochs every position of a short text gets hidden (uniform over the real pieces).
  for (const auto& [r, ps] : seen) {
    const int64_t len = (x0[r] != 0).sum().item<int64_t>();
    if (len <= 4) EXPECT_EQ(static_cast<int64_t>(ps.size()), len) << "row " << r;
  }
  // Validation draws as epoch 0 whatever the epoch; labels in the files do not matter.
  const auto val = build(text_config(f, over), Split::Val);
  val->set_epoch(0);
  const auto v0 = val->get({0, 1, 2});
  val->set_epoch(7);
  EXPECT_TRUE(torch::equal(val->get({0, 1, 2}).input, v0.input));
  EXPECT_TRUE(torch::equal(val->get({0, 1, 2}).target, v0.target));
}

TEST(TextTsv, MaskedPiecePositionsAreUniformAndSeeded) {
  std::vector<int64_t> hist(7, 0);
  int64_t differ = 0;
  for (int64_t i = 0; i < 70000; ++i) {
    ++hist[static_cast<size_t>(MaskedPieceDataset::position(3, 2, i, 7))];
    differ += MaskedPieceDataset::position(3, 2, i, 7) != MaskedPieceDataset::position(4, 2, i, 7);
  }
  // Chi-square with 6 degrees of freedom: 22.46 is its 0.999 quantile.
  double chi2 = 0;
  for (auto h : hist) chi2 += (h - 10000.0) * (h - 10000.0) / 10000.0;
  EXPECT_LT(chi2, 22.46);
  EXPECT_NEAR(differ / 70000.0, 6.0 / 7.0, 0.01);
  EXPECT_EQ(MaskedPieceDataset::position(3, 2, 5, 0), 0);
}
