// The read side of packs (pack.h): IDX files, labelled text records, and packed folders read back
// (manifest.json + HDF5 shards). Free of OpenCV and LibTorch, so that the fuzz harnesses
// (tests/fuzz/) build it on its own; pack.cpp holds the writers.
#include <algorithm>
#include <fstream>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "datasets/pack.h"
#include "datasets/tar_reader.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

namespace {

using text::ends_with;
using text::lower;

// Splits one line: TSV at every tab, CSV with RFC 4180 quoting (datasets/csv.h).
std::vector<std::string> split_line(const std::string& line, char delim) {
  return delim == ',' ? split_csv_line(line, ',') : text::split(line, delim);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string unescape_unicode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  auto hex4 = [&](size_t at, uint32_t& v) {
    if (at + 6 > s.size() || s[at] != '\\' || s[at + 1] != 'u') return false;
    v = 0;
    for (size_t i = at + 2; i < at + 6; ++i) {
      const char c = s[i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    if (hex4(i, cp)) {
      uint32_t lo = 0;
      if (cp >= 0xD800 && cp < 0xDC00 && hex4(i + 6, lo) && lo >= 0xDC00 && lo < 0xE000) {
        append_utf8(out, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
        i += 12;
      } else {
        append_utf8(out, (cp >= 0xD800 && cp < 0xE000) ? 0xFFFD : cp);
        i += 6;
      }
    } else {
      out += s[i++];
    }
  }
  return out;
}

/// The text, or nothing after reporting it as a bad record: a NUL byte (raw, or from a \u0000 escape)
/// would silently cut the text where HDF5's C strings end.
template <class Bad>
std::optional<std::string> checked_text(std::string text, const std::string& source, Bad& bad) {
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    bad(source, "the text holds a NUL byte at character " + std::to_string(nul + 1) +
                    " (it would be cut there); remove it from the input, or pack with --skip-bad");
    return std::nullopt;
  }
  return text;
}

/// TweetEval's mapping.txt ("0<TAB>negative" ...): class names in id order; empty without the file.
static std::vector<std::string> read_mapping(const fs::path& map_path) {
  std::vector<std::string> names;
  std::ifstream min(map_path);
  std::string line;
  int line_no = 0;
  while (min && std::getline(min, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cols = split_line(line, '\t');
    if (cols.size() < 2 || cols[0] != std::to_string(names.size()))
      throw UserError(map_path.string() + ":" + std::to_string(line_no) + ": expected '" +
                      std::to_string(names.size()) + "<TAB>name'");
    names.push_back(cols[1]);
  }
  return names;
}

std::vector<TextRecord> read_text_records(const fs::path& path, const TextReadOptions& opt,
                                          std::vector<BadRecord>* skipped, std::vector<std::string>* mapping) {
  std::vector<TextRecord> out;
  auto bad = [&](const std::string& source, const std::string& reason) {
    if (!opt.skip_bad || !skipped) throw UserError(source + ": " + reason);
    skipped->push_back({source, reason});
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path.string() + ": cannot read");
  const std::string name = path.filename().string();
  // TweetEval: <split>_text.txt + <split>_labels.txt (+ mapping.txt: id<TAB>name).
  if (ends_with(name, "_text.txt")) {
    const fs::path labels_path = path.parent_path() / (name.substr(0, name.size() - 9) + "_labels.txt");
    std::ifstream lin(labels_path, std::ios::binary);
    if (!lin) throw UserError(labels_path.string() + ": cannot read (the labels of " + path.string() + ")");
    const std::vector<std::string> names = read_mapping(path.parent_path() / "mapping.txt");
    if (mapping && !names.empty()) *mapping = names;
    std::string text, label;
    int line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      const std::string source = path.string() + ":" + std::to_string(line_no);
      if (!std::getline(lin, label)) throw UserError(labels_path.string() + ": fewer labels than lines in " + path.string());
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (!label.empty() && label.back() == '\r') label.pop_back();
      while (!label.empty() && label.back() == ' ') label.pop_back();
      if (!names.empty()) {
        char* end = nullptr;
        const long id = std::strtol(label.c_str(), &end, 10);
        if (label.empty() || *end != '\0' || id < 0 || id >= static_cast<long>(names.size())) {
          bad(labels_path.string() + ":" + std::to_string(line_no), "bad label '" + label + "' (expected 0.." +
                                                                          std::to_string(names.size() - 1) + ")");
          continue;
        }
        label = names[id];
      } else if (label.empty()) {
        bad(labels_path.string() + ":" + std::to_string(line_no), "empty label");
        continue;
      }
      if (auto t = checked_text(opt.unescape ? unescape_unicode(text) : text, source, bad))
        out.push_back({source, label, std::move(*t)});
    }
    return out;
  }
  const char delim = opt.delimiter ? opt.delimiter : (lower(path.extension().string()) == ".csv" ? ',' : '\t');
  const size_t needed = static_cast<size_t>(std::max(opt.label_column, opt.text_column)) + 1;
  size_t expected = 0;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string source = path.string() + ":" + std::to_string(line_no);
    if (line.empty()) continue;
    auto cols = split_line(line, delim);
    while (cols.size() > needed && cols.back().empty()) cols.pop_back();  // trailing delimiters
    if (expected == 0) expected = std::max(cols.size(), needed);
    if (cols.size() != expected) {
      bad(source, "expected " + std::to_string(expected) + " columns, found " + std::to_string(cols.size()));
      continue;
    }
    std::string label = cols[opt.label_column];
    if (label.empty()) {
      bad(source, "empty label");
      continue;
    }
    const std::string& text = cols[opt.text_column];
    if (auto t = checked_text(opt.unescape ? unescape_unicode(text) : text, source, bad))
      out.push_back({source, label, std::move(*t)});
  }
  return out;
}

bool is_image_file(const fs::path& path) {
  const std::string l = lower(path.filename().string());
  return ends_with(l, ".jpg") || ends_with(l, ".jpeg") || ends_with(l, ".png") || ends_with(l, ".bmp");
}

IdxData read_idx(const fs::path& path) {
  GzFile f(path);
  unsigned char magic[4];
  f.read_exact(magic, 4, "the IDX header");
  if (magic[0] != 0 || magic[1] != 0) throw UserError(path.string() + ": not an IDX file (bad magic number)");
  if (magic[2] != 0x08) throw UserError(path.string() + ": IDX element type 0x" + std::to_string(magic[2]) +
                                        " is not supported (only unsigned byte, 0x08)");
  IdxData out;
  for (int i = 0; i < magic[3]; ++i) {
    unsigned char d[4];
    f.read_exact(d, 4, "the IDX dimensions");
    out.dims.push_back((int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | int64_t{d[3]});
  }
  if (out.dims.empty()) throw UserError(path.string() + ": IDX file has no dimensions");
  // The header's sizes are checked for overflow and the data is read in blocks, so that a damaged
  // header claiming terabytes fails as a truncated file instead of allocating what it claims
  // (found by tests/fuzz/fuzz_idx.cpp).
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  int64_t per = 1;
  for (size_t i = 1; i < out.dims.size(); ++i) {
    if (out.dims[i] != 0 && per > kMaxBytes / out.dims[i])
      throw UserError(path.string() + ": IDX header claims records of more than 1 TiB (damaged header?)");
    per *= out.dims[i];
  }
  if (per != 0 && out.dims[0] > kMaxBytes / per)
    throw UserError(path.string() + ": IDX header claims more than 1 TiB of data (damaged header?)");
  const auto want = static_cast<size_t>(per * out.dims[0]);
  size_t got = 0;
  while (got < want) {
    out.data.resize(got + std::min<size_t>(want - got, std::max<size_t>(got, size_t{1} << 20)));  // doubling
    const size_t n = f.read(out.data.data() + got, out.data.size() - got);
    got += n;
    if (got < out.data.size()) break;
  }
  if (got != want) {
    throw UserError(path.string() + "#" + std::to_string(per ? got / per : 0) + ": truncated IDX file (header says " +
                    std::to_string(out.dims[0]) + " records, data ends inside record " +
                    std::to_string(per ? got / per : 0) + ")");
  }
  return out;
}

void check_split_classes(const fs::path& split_dir, const std::vector<std::string>& split_classes,
                         const fs::path& train_dir, const std::string& split_name) {
  std::error_code ec;
  if (fs::equivalent(split_dir, train_dir, ec)) return;
  const fs::path mpath = train_dir / "manifest.json";
  std::vector<std::string> train;
  try {
    train = nlohmann::json::parse(read_file(mpath)).at("classes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": cannot read its class list (" + e.what() + ")");
  }
  if (train == split_classes) return;
  std::string diff;
  if (train.size() != split_classes.size()) {
    diff = std::to_string(split_classes.size()) + " classes against the training pack's " + std::to_string(train.size());
  } else {
    for (size_t i = 0; i < train.size(); ++i)
      if (train[i] != split_classes[i]) {
        diff = "class " + std::to_string(i) + " is '" + split_classes[i] + "' there and '" + train[i] + "' in training";
        break;
      }
  }
  throw UserError(split_dir.string() + ": the " + split_name + " pack's classes differ from the training pack's (" +
                  train_dir.string() + "): " + diff + "; pack both splits with the same class names in the same order");
}

void verify_shard_file(const fs::path& p, const nlohmann::json& entry) {
  const auto bytes = entry.at("bytes").get<uint64_t>();
  if (fs::file_size(p) != bytes)
    throw UserError(p.string() + ": shard is " + std::to_string(fs::file_size(p)) + " bytes, manifest says " +
                    std::to_string(bytes) + " (truncated or replaced)");
  if (const auto crc = h5::crc32_file(p); crc != entry.at("crc32").get<std::string>())
    throw UserError(p.string() + ": CRC-32 " + crc + " does not match the manifest's " +
                    entry.at("crc32").get<std::string>() + " (damaged or replaced)");
}

void check_shard_count(const fs::path& p, const h5::Shard& shard, const nlohmann::json& entry) {
  if (shard.count() != entry.at("count").get<int64_t>())
    throw UserError(p.string() + ": holds " + std::to_string(shard.count()) + " records, manifest says " +
                    std::to_string(entry.at("count").get<int64_t>()));
}

PackedData read_packed(const fs::path& dir, bool verify) {
  const fs::path mpath = dir / "manifest.json";
  if (!fs::exists(mpath))
    throw UserError(dir.string() + ": no manifest.json (not a folder written by 'smlab pack', or packing did not finish)");
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(read_file(mpath));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": not valid JSON (" + e.what() + ")");
  }
  PackedData out;
  try {
    if (m.value("format", "") != "smlab-pack") throw UserError(mpath.string() + ": not an smlab pack manifest");
    out.kind = m.at("kind").get<std::string>();
    out.classes = m.at("classes").get<std::vector<std::string>>();
    if (m.contains("sample_shape")) out.sample_shape = m.at("sample_shape").get<std::vector<int64_t>>();
    for (const auto& s : m.at("shards")) {
      const fs::path p = dir / s.at("file").get<std::string>();
      if (!fs::exists(p)) throw UserError(p.string() + ": shard listed in " + mpath.string() + " is missing");
      if (verify) verify_shard_file(p, s);
      h5::Shard sh = h5::read_shard(p);
      check_shard_count(p, sh, s);
      if (out.kind == "image" || out.kind == "video") {
        if (sh.image_shape.empty()) throw UserError(p.string() + ": " + out.kind + " shard without 'images'");
        const std::vector<int64_t> shape(sh.image_shape.begin() + 1, sh.image_shape.end());
        if (shape != out.sample_shape) throw UserError(p.string() + ": image shape differs from the manifest's");
        out.images.insert(out.images.end(), sh.images.begin(), sh.images.end());
      } else {
        if (sh.texts.size() != sh.labels.size()) throw UserError(p.string() + ": text shard without 'texts'");
        for (auto& t : sh.texts) out.texts.push_back(std::move(t));
      }
      for (auto l : sh.labels) {
        if (l < 0 || l >= static_cast<int64_t>(out.classes.size()))
          throw UserError(p.string() + ": label " + std::to_string(l) + " is outside the manifest's " +
                          std::to_string(out.classes.size()) + " classes");
        out.labels.push_back(l);
      }
    }
    if (out.count() != m.at("count").get<int64_t>())
      throw UserError(mpath.string() + ": count " + std::to_string(m.at("count").get<int64_t>()) + " but shards hold " +
                      std::to_string(out.count()));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": malformed manifest (" + e.what() + ")");
  }
  return out;
}

}  // namespace smlab::datasets
