// Text preparation for the text datasets: tweet normalisation, a match key for de-duplication,
// and hashed character n-gram ids per SentencePiece piece.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace smlab::datasets {

class Tokenizer;

/// TweetEval's normalisation (checked against its sentiment test set: 12,277 of the 12,284
/// SemEval-2017 test tweets become byte-identical to TweetEval's text, up to whitespace).
/// The text is split on ASCII whitespace; a word that starts with '@' (after any leading '"')
/// and has at least one more character becomes "@user"; a word that starts with "http" is
/// dropped; words are joined with single spaces.
///   "\"@bob: see https://t.co/x  now" -> "@user see now"      (sic: "@bob:" is one word)
std::string normalize_tweet(const std::string& text);

/// Key under which two texts count as the same tweet: \uXXXX escapes and the HTML entities
/// &amp; &lt; &gt; &quot; &#39; decoded, normalize_tweet() applied, then only ASCII letters
/// (lower-cased) and digits and all non-ASCII characters kept. It ignores case, punctuation,
/// spacing, quoting, mentions and links, which is what separates the same tweet as shipped by
/// SemEval-2017 and by TweetEval (all 2,000 TweetEval validation tweets are found in the
/// SemEval-2017 train pool this way).
std::string match_key(const std::string& text);

/// Hashed character n-grams of every piece of `tok`: an int64 [V, per_piece] table whose row v
/// holds the ids of the n-grams (n in `ns`, counted in Unicode code points) of "<" + piece + ">",
/// each hashed (FNV-1a 64 of the UTF-8 bytes) into `buckets` ids offset by V, i.e. in
/// [V, V + buckets). Unused slots are 0; so are the rows of the control pieces (padding, unknown).
/// A piece with more than `per_piece` n-grams keeps the first `per_piece` (shorter n first,
/// left to right); `truncated` (optional) receives how many pieces lost some.
torch::Tensor char_ngram_table(const Tokenizer& tok, const std::vector<int64_t>& ns, int64_t buckets,
                               int64_t per_piece, int64_t* truncated = nullptr);

}  // namespace smlab::datasets
