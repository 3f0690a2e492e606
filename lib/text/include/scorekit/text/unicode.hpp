// UTF-8 repair and the character rules of cc_net's Python code (str.strip, str.lower, re's \d),
// taken from Python 3.11's Unicode 14.0.0 database by lib/text/tools/gen_unicode_tables.py.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace scorekit::text {

// Unicode version of the character tables.
const char* unicode_version();

// Appends `input` to `output` as valid UTF-8, replacing each maximal ill-formed subsequence with
// U+FFFD (the Unicode "substitution of maximal subparts" practice, as Python's errors="replace").
// Returns the number of replacements.
std::size_t append_repaired_utf8(std::string_view input, std::string& output);

// True if `input` is valid UTF-8 (no surrogates, no overlong forms, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view input);

// Number of code points in valid UTF-8 text (Python's len()).
std::size_t count_code_points(std::string_view utf8);

// Decodes the code point that starts at byte `offset` and moves `offset` past it. Input must be
// valid UTF-8, with `offset` at the start of a code point before the end.
char32_t next_code_point(std::string_view utf8, std::size_t& offset);

// True for the whitespace of Python's str.isspace() and str.split(): Unicode White_Space minus a
// few, plus U+001C..U+001F.
bool is_python_space(char32_t cp);

// True for the letters of Python's str.isalpha(): general categories Lu, Ll, Lt, Lm and Lo.
bool is_python_alpha(char32_t cp);

// Removes leading and trailing whitespace as Python's str.strip() does (characters with
// str.isspace(): Unicode White_Space minus a few, plus U+001C..U+001F). Input must be valid UTF-8.
std::string_view strip_whitespace(std::string_view utf8);

// Splits into lines as Python's str.splitlines() does: at LF, CR, CRLF, VT, FF, U+001C..U+001E,
// U+0085, U+2028 and U+2029, with no empty line after a final line break. Input must be valid
// UTF-8; the lines are views of it.
std::vector<std::string_view> split_python_lines(std::string_view utf8);

// Writes cc_net's normalize_for_dedup(line) to `output` (replacing its content): strip, full
// Unicode lowercase with the final-sigma rule, every Nd digit to "0", then delete control
// characters U+0000..U+001F and U+007F..U+009F and 34 CJK and typographic punctuation marks.
// Input must be valid UTF-8.
void normalize_for_dedup(std::string_view line, std::string& output);

// normalize_for_dedup() written at `output`, which has room for 2 * line.size() bytes; returns
// the number of bytes written.
std::size_t normalize_for_dedup_into(std::string_view line, char* output);

// Result of scan_dedup_line() for one line.
struct DedupLineScan {
    std::size_t next = 0;         // offset of the next line from the start of this one
    std::size_t size = 0;         // bytes written to the output
    std::size_t code_points = 0;  // code points of the line after strip_whitespace()
    bool blank = true;            // nothing left after strip_whitespace()
    bool text = false;            // a byte other than space, TAB, CR and LF
};

// Normalises the line that starts at `begin`, in one pass, for the hash fast path. The line
// ends at LF, CR, CRLF or `end`. Writes normalize_for_dedup(strip_whitespace(line)) at `output`,
// which needs room for 2 * (end - begin) bytes. Returns false, with the output undefined, when
// the line is not valid UTF-8 or contains a control character other than TAB (a byte below 0x20
// or DEL), because such bodies take the repairing path of record_to_document().
bool scan_dedup_line(const char* begin, const char* end, char* output, DedupLineScan& scan);

// Writes cc_net's text_normalizer.normalize(text) with its defaults to `output` (replacing its
// content), the normalisation applied before SentencePiece: strip, lowercase, NFD with Mn
// characters (accents) dropped, every Nd digit to "0", cc_net's map of 34 CJK and typographic
// punctuation marks to ASCII, then delete control characters U+0000..U+001F and U+007F..U+009F
// (newlines included). Input must be valid UTF-8.
void normalize_for_perplexity(std::string_view text, std::string& output);

}  // namespace scorekit::text
