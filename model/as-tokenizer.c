/* as-tokenizer.c — BERT WordPiece tokenization, identical in ids to Hugging
 * Face `tokenizers` (the Rust crate; file names below are under its
 * tokenizers/src/).
 *
 * One sentence goes through the steps of tokenizer/mod.rs:
 *   1. its bytes are decoded; an invalid byte reads as U+FFFD (Rust only ever
 *      sees valid UTF-8; U+FFFD is what clean_text then drops);
 *   2. AddedVocabulary (tokenizer/added_vocabulary.rs) cuts out the added
 *      tokens with normalized=false, matched on the raw text ([CLS], [MASK] …);
 *   3. every other piece goes through BertNormalizer (normalizers/bert.rs);
 *   4. added tokens with normalized=true are cut out of the normalized text;
 *   5. BertPreTokenizer (pre_tokenizers/bert.rs) splits on whitespace and
 *      isolates punctuation;
 *   6. WordPiece (models/wordpiece/mod.rs) cuts each word into vocabulary
 *      pieces, or makes the whole word [UNK].
 * Then the sentences are truncated longest-first (utils/truncation.rs) and the
 * post-processor's template adds [CLS] / [SEP].
 *
 * Every normalized character remembers the input character it came from, so
 * each token knows the byte span of its sentence it covers.
 */
#include "as-tokenizer.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "as-bpe.h"
#include "as-error.h"
#include "as-file-read.h"
#include "as-json-guard.h"

/* ------------------------------------------------------------------------ */
/* Character classes, as tokenizers has them                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  gunichar lo, hi;
} CodeRange;

/* tokenizers takes general categories from the `unicode_categories` crate,
 * whose tables are an old Unicode (8.0 or earlier: U+2E43, new in 9.0, is not
 * punctuation to it), not from GLib (Unicode 15 on Debian 12):
 * e.g. U+2E43 is punctuation to GLib but not to tokenizers, U+166D the other
 * way round. So the three classes it uses are tables here, found by asking
 * tokenizers about every code point: `tools/goldens_tokens.py --c-tables`
 * prints them again, and the "normalize"/"isolate" sweeps of
 * tests/data/token-goldens.jsonl check them against it.
 *
 * dropped_by_clean_text: `is_control` of normalizers/bert.rs, i.e. the crate's
 * is_other() = Cc | Cf | Co (not Cn), without \t \n \r (U+0000 and U+FFFD
 * are dropped by a test of their own). */
static const CodeRange dropped_by_clean_text[] = {
  {0x0001, 0x0008}, {0x000B, 0x000C}, {0x000E, 0x001F}, {0x007F, 0x009F},
  {0x00AD, 0x00AD}, {0x0600, 0x0605}, {0x061C, 0x061C}, {0x06DD, 0x06DD},
  {0x070F, 0x070F}, {0x180E, 0x180E}, {0x200B, 0x200F}, {0x202A, 0x202E},
  {0x2060, 0x2064}, {0x2066, 0x206F}, {0xE000, 0xF8FF}, {0xFEFF, 0xFEFF},
  {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
  {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0xFFFFD}, {0x100000, 0x10FFFD},
};

/* unicode_punctuation: the crate's is_punctuation() (P*) above ASCII; in
 * ASCII, BertPreTokenizer uses char::is_ascii_punctuation instead. */
static const CodeRange unicode_punctuation[] = {
  {0x00A1, 0x00A1}, {0x00A7, 0x00A7}, {0x00AB, 0x00AB}, {0x00B6, 0x00B7},
  {0x00BB, 0x00BB}, {0x00BF, 0x00BF}, {0x037E, 0x037E}, {0x0387, 0x0387},
  {0x055A, 0x055F}, {0x0589, 0x058A}, {0x05BE, 0x05BE}, {0x05C0, 0x05C0},
  {0x05C3, 0x05C3}, {0x05C6, 0x05C6}, {0x05F3, 0x05F4}, {0x0609, 0x060A},
  {0x060C, 0x060D}, {0x061B, 0x061B}, {0x061E, 0x061F}, {0x066A, 0x066D},
  {0x06D4, 0x06D4}, {0x0700, 0x070D}, {0x07F7, 0x07F9}, {0x0830, 0x083E},
  {0x085E, 0x085E}, {0x0964, 0x0965}, {0x0970, 0x0970}, {0x0AF0, 0x0AF0},
  {0x0DF4, 0x0DF4}, {0x0E4F, 0x0E4F}, {0x0E5A, 0x0E5B}, {0x0F04, 0x0F12},
  {0x0F14, 0x0F14}, {0x0F3A, 0x0F3D}, {0x0F85, 0x0F85}, {0x0FD0, 0x0FD4},
  {0x0FD9, 0x0FDA}, {0x104A, 0x104F}, {0x10FB, 0x10FB}, {0x1360, 0x1368},
  {0x1400, 0x1400}, {0x166D, 0x166E}, {0x169B, 0x169C}, {0x16EB, 0x16ED},
  {0x1735, 0x1736}, {0x17D4, 0x17D6}, {0x17D8, 0x17DA}, {0x1800, 0x180A},
  {0x1944, 0x1945}, {0x1A1E, 0x1A1F}, {0x1AA0, 0x1AA6}, {0x1AA8, 0x1AAD},
  {0x1B5A, 0x1B60}, {0x1BFC, 0x1BFF}, {0x1C3B, 0x1C3F}, {0x1C7E, 0x1C7F},
  {0x1CC0, 0x1CC7}, {0x1CD3, 0x1CD3}, {0x2010, 0x2027}, {0x2030, 0x2043},
  {0x2045, 0x2051}, {0x2053, 0x205E}, {0x207D, 0x207E}, {0x208D, 0x208E},
  {0x2308, 0x230B}, {0x2329, 0x232A}, {0x2768, 0x2775}, {0x27C5, 0x27C6},
  {0x27E6, 0x27EF}, {0x2983, 0x2998}, {0x29D8, 0x29DB}, {0x29FC, 0x29FD},
  {0x2CF9, 0x2CFC}, {0x2CFE, 0x2CFF}, {0x2D70, 0x2D70}, {0x2E00, 0x2E2E},
  {0x2E30, 0x2E42}, {0x3001, 0x3003}, {0x3008, 0x3011}, {0x3014, 0x301F},
  {0x3030, 0x3030}, {0x303D, 0x303D}, {0x30A0, 0x30A0}, {0x30FB, 0x30FB},
  {0xA4FE, 0xA4FF}, {0xA60D, 0xA60F}, {0xA673, 0xA673}, {0xA67E, 0xA67E},
  {0xA6F2, 0xA6F7}, {0xA874, 0xA877}, {0xA8CE, 0xA8CF}, {0xA8F8, 0xA8FA},
  {0xA8FC, 0xA8FC}, {0xA92E, 0xA92F}, {0xA95F, 0xA95F}, {0xA9C1, 0xA9CD},
  {0xA9DE, 0xA9DF}, {0xAA5C, 0xAA5F}, {0xAADE, 0xAADF}, {0xAAF0, 0xAAF1},
  {0xABEB, 0xABEB}, {0xFD3E, 0xFD3F}, {0xFE10, 0xFE19}, {0xFE30, 0xFE52},
  {0xFE54, 0xFE61}, {0xFE63, 0xFE63}, {0xFE68, 0xFE68}, {0xFE6A, 0xFE6B},
  {0xFF01, 0xFF03}, {0xFF05, 0xFF0A}, {0xFF0C, 0xFF0F}, {0xFF1A, 0xFF1B},
  {0xFF1F, 0xFF20}, {0xFF3B, 0xFF3D}, {0xFF3F, 0xFF3F}, {0xFF5B, 0xFF5B},
  {0xFF5D, 0xFF5D}, {0xFF5F, 0xFF65}, {0x10100, 0x10102}, {0x1039F, 0x1039F},
  {0x103D0, 0x103D0}, {0x1056F, 0x1056F}, {0x10857, 0x10857}, {0x1091F, 0x1091F},
  {0x1093F, 0x1093F}, {0x10A50, 0x10A58}, {0x10A7F, 0x10A7F}, {0x10AF0, 0x10AF6},
  {0x10B39, 0x10B3F}, {0x10B99, 0x10B9C}, {0x11047, 0x1104D}, {0x110BB, 0x110BC},
  {0x110BE, 0x110C1}, {0x11140, 0x11143}, {0x11174, 0x11175}, {0x111C5, 0x111C9},
  {0x111CD, 0x111CD}, {0x111DB, 0x111DB}, {0x111DD, 0x111DF}, {0x11238, 0x1123D},
  {0x112A9, 0x112A9}, {0x114C6, 0x114C6}, {0x115C1, 0x115D7}, {0x11641, 0x11643},
  {0x1173C, 0x1173E}, {0x12470, 0x12474}, {0x16A6E, 0x16A6F}, {0x16AF5, 0x16AF5},
  {0x16B37, 0x16B3B}, {0x16B44, 0x16B44}, {0x1BC9F, 0x1BC9F}, {0x1DA87, 0x1DA8B},
};

/* nonspacing_marks: the crate's is_mark_nonspacing() (Mn), which strip_accents
 * removes after NFD. */
static const CodeRange nonspacing_marks[] = {
  {0x0300, 0x036F}, {0x0483, 0x0487}, {0x0591, 0x05BD}, {0x05BF, 0x05BF},
  {0x05C1, 0x05C2}, {0x05C4, 0x05C5}, {0x05C7, 0x05C7}, {0x0610, 0x061A},
  {0x064B, 0x065F}, {0x0670, 0x0670}, {0x06D6, 0x06DC}, {0x06DF, 0x06E4},
  {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0711, 0x0711}, {0x0730, 0x074A},
  {0x07A6, 0x07B0}, {0x07EB, 0x07F3}, {0x0816, 0x0819}, {0x081B, 0x0823},
  {0x0825, 0x0827}, {0x0829, 0x082D}, {0x0859, 0x085B}, {0x08E3, 0x0902},
  {0x093A, 0x093A}, {0x093C, 0x093C}, {0x0941, 0x0948}, {0x094D, 0x094D},
  {0x0951, 0x0957}, {0x0962, 0x0963}, {0x0981, 0x0981}, {0x09BC, 0x09BC},
  {0x09C1, 0x09C4}, {0x09CD, 0x09CD}, {0x09E2, 0x09E3}, {0x0A01, 0x0A02},
  {0x0A3C, 0x0A3C}, {0x0A41, 0x0A42}, {0x0A47, 0x0A48}, {0x0A4B, 0x0A4D},
  {0x0A51, 0x0A51}, {0x0A70, 0x0A71}, {0x0A75, 0x0A75}, {0x0A81, 0x0A82},
  {0x0ABC, 0x0ABC}, {0x0AC1, 0x0AC5}, {0x0AC7, 0x0AC8}, {0x0ACD, 0x0ACD},
  {0x0AE2, 0x0AE3}, {0x0B01, 0x0B01}, {0x0B3C, 0x0B3C}, {0x0B3F, 0x0B3F},
  {0x0B41, 0x0B44}, {0x0B4D, 0x0B4D}, {0x0B56, 0x0B56}, {0x0B62, 0x0B63},
  {0x0B82, 0x0B82}, {0x0BC0, 0x0BC0}, {0x0BCD, 0x0BCD}, {0x0C00, 0x0C00},
  {0x0C3E, 0x0C40}, {0x0C46, 0x0C48}, {0x0C4A, 0x0C4D}, {0x0C55, 0x0C56},
  {0x0C62, 0x0C63}, {0x0C81, 0x0C81}, {0x0CBC, 0x0CBC}, {0x0CBF, 0x0CBF},
  {0x0CC6, 0x0CC6}, {0x0CCC, 0x0CCD}, {0x0CE2, 0x0CE3}, {0x0D01, 0x0D01},
  {0x0D41, 0x0D44}, {0x0D4D, 0x0D4D}, {0x0D62, 0x0D63}, {0x0DCA, 0x0DCA},
  {0x0DD2, 0x0DD4}, {0x0DD6, 0x0DD6}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},
  {0x0E47, 0x0E4E}, {0x0EB1, 0x0EB1}, {0x0EB4, 0x0EB9}, {0x0EBB, 0x0EBC},
  {0x0EC8, 0x0ECD}, {0x0F18, 0x0F19}, {0x0F35, 0x0F35}, {0x0F37, 0x0F37},
  {0x0F39, 0x0F39}, {0x0F71, 0x0F7E}, {0x0F80, 0x0F84}, {0x0F86, 0x0F87},
  {0x0F8D, 0x0F97}, {0x0F99, 0x0FBC}, {0x0FC6, 0x0FC6}, {0x102D, 0x1030},
  {0x1032, 0x1037}, {0x1039, 0x103A}, {0x103D, 0x103E}, {0x1058, 0x1059},
  {0x105E, 0x1060}, {0x1071, 0x1074}, {0x1082, 0x1082}, {0x1085, 0x1086},
  {0x108D, 0x108D}, {0x109D, 0x109D}, {0x135D, 0x135F}, {0x1712, 0x1714},
  {0x1732, 0x1734}, {0x1752, 0x1753}, {0x1772, 0x1773}, {0x17B4, 0x17B5},
  {0x17B7, 0x17BD}, {0x17C6, 0x17C6}, {0x17C9, 0x17D3}, {0x17DD, 0x17DD},
  {0x180B, 0x180D}, {0x18A9, 0x18A9}, {0x1920, 0x1922}, {0x1927, 0x1928},
  {0x1932, 0x1932}, {0x1939, 0x193B}, {0x1A17, 0x1A18}, {0x1A1B, 0x1A1B},
  {0x1A56, 0x1A56}, {0x1A58, 0x1A5E}, {0x1A60, 0x1A60}, {0x1A62, 0x1A62},
  {0x1A65, 0x1A6C}, {0x1A73, 0x1A7C}, {0x1A7F, 0x1A7F}, {0x1AB0, 0x1ABD},
  {0x1B00, 0x1B03}, {0x1B34, 0x1B34}, {0x1B36, 0x1B3A}, {0x1B3C, 0x1B3C},
  {0x1B42, 0x1B42}, {0x1B6B, 0x1B73}, {0x1B80, 0x1B81}, {0x1BA2, 0x1BA5},
  {0x1BA8, 0x1BA9}, {0x1BAB, 0x1BAD}, {0x1BE6, 0x1BE6}, {0x1BE8, 0x1BE9},
  {0x1BED, 0x1BED}, {0x1BEF, 0x1BF1}, {0x1C2C, 0x1C33}, {0x1C36, 0x1C37},
  {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CE0}, {0x1CE2, 0x1CE8}, {0x1CED, 0x1CED},
  {0x1CF4, 0x1CF4}, {0x1CF8, 0x1CF9}, {0x1DC0, 0x1DF5}, {0x1DFC, 0x1DFF},
  {0x20D0, 0x20DC}, {0x20E1, 0x20E1}, {0x20E5, 0x20F0}, {0x2CEF, 0x2CF1},
  {0x2D7F, 0x2D7F}, {0x2DE0, 0x2DFF}, {0x302A, 0x302D}, {0x3099, 0x309A},
  {0xA66F, 0xA66F}, {0xA674, 0xA67D}, {0xA69E, 0xA69F}, {0xA6F0, 0xA6F1},
  {0xA802, 0xA802}, {0xA806, 0xA806}, {0xA80B, 0xA80B}, {0xA825, 0xA826},
  {0xA8C4, 0xA8C4}, {0xA8E0, 0xA8F1}, {0xA926, 0xA92D}, {0xA947, 0xA951},
  {0xA980, 0xA982}, {0xA9B3, 0xA9B3}, {0xA9B6, 0xA9B9}, {0xA9BC, 0xA9BC},
  {0xA9E5, 0xA9E5}, {0xAA29, 0xAA2E}, {0xAA31, 0xAA32}, {0xAA35, 0xAA36},
  {0xAA43, 0xAA43}, {0xAA4C, 0xAA4C}, {0xAA7C, 0xAA7C}, {0xAAB0, 0xAAB0},
  {0xAAB2, 0xAAB4}, {0xAAB7, 0xAAB8}, {0xAABE, 0xAABF}, {0xAAC1, 0xAAC1},
  {0xAAEC, 0xAAED}, {0xAAF6, 0xAAF6}, {0xABE5, 0xABE5}, {0xABE8, 0xABE8},
  {0xABED, 0xABED}, {0xFB1E, 0xFB1E}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
  {0x101FD, 0x101FD}, {0x102E0, 0x102E0}, {0x10376, 0x1037A}, {0x10A01, 0x10A03},
  {0x10A05, 0x10A06}, {0x10A0C, 0x10A0F}, {0x10A38, 0x10A3A}, {0x10A3F, 0x10A3F},
  {0x10AE5, 0x10AE6}, {0x11001, 0x11001}, {0x11038, 0x11046}, {0x1107F, 0x11081},
  {0x110B3, 0x110B6}, {0x110B9, 0x110BA}, {0x11100, 0x11102}, {0x11127, 0x1112B},
  {0x1112D, 0x11134}, {0x11173, 0x11173}, {0x11180, 0x11181}, {0x111B6, 0x111BE},
  {0x111CA, 0x111CC}, {0x1122F, 0x11231}, {0x11234, 0x11234}, {0x11236, 0x11237},
  {0x112DF, 0x112DF}, {0x112E3, 0x112EA}, {0x11300, 0x11301}, {0x1133C, 0x1133C},
  {0x11340, 0x11340}, {0x11366, 0x1136C}, {0x11370, 0x11374}, {0x114B3, 0x114B8},
  {0x114BA, 0x114BA}, {0x114BF, 0x114C0}, {0x114C2, 0x114C3}, {0x115B2, 0x115B5},
  {0x115BC, 0x115BD}, {0x115BF, 0x115C0}, {0x115DC, 0x115DD}, {0x11633, 0x1163A},
  {0x1163D, 0x1163D}, {0x1163F, 0x11640}, {0x116AB, 0x116AB}, {0x116AD, 0x116AD},
  {0x116B0, 0x116B5}, {0x116B7, 0x116B7}, {0x1171D, 0x1171F}, {0x11722, 0x11725},
  {0x11727, 0x1172B}, {0x16AF0, 0x16AF4}, {0x16B30, 0x16B36}, {0x16F8F, 0x16F92},
  {0x1BC9D, 0x1BC9E}, {0x1D167, 0x1D169}, {0x1D17B, 0x1D182}, {0x1D185, 0x1D18B},
  {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244}, {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C},
  {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F}, {0x1DAA1, 0x1DAAF},
  {0x1E8D0, 0x1E8D6}, {0xE0100, 0xE01EF},
};

/* Where Rust's char::to_lowercase (the Rust that built tokenizers 0.23 has a
 * newer Unicode than GLib 2.74's 15.0) lowercases a character that GLib's
 * g_unichar_tolower leaves alone: GLib maps only letters of category Lu/Lt
 * (so not the Roman numerals, Nl, nor the circled letters, So).
 * [lo, hi] maps to [to, to + hi - lo]. */
typedef struct {
  gunichar lo, hi, to;
} CaseRange;

static const CaseRange lowercase_beyond_glib[] = {
  {0x1C89, 0x1C89, 0x1C8A}, {0x2160, 0x216F, 0x2170}, {0x24B6, 0x24CF, 0x24D0},
  {0xA7CB, 0xA7CB, 0x0264}, {0xA7CC, 0xA7CC, 0xA7CD}, {0xA7CE, 0xA7CE, 0xA7CF},
  {0xA7D2, 0xA7D2, 0xA7D3}, {0xA7D4, 0xA7D4, 0xA7D5}, {0xA7DA, 0xA7DA, 0xA7DB},
  {0xA7DC, 0xA7DC, 0x019B}, {0x10D50, 0x10D65, 0x10D70}, {0x16EA0, 0x16EB8, 0x16EBB},
};

static gboolean
in_ranges (const CodeRange *table, gsize n, gunichar c)
{
  gsize lo = 0, hi = n;

  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;
      if (c < table[mid].lo)
        hi = mid;
      else if (c > table[mid].hi)
        lo = mid + 1;
      else
        return TRUE;
    }
  return FALSE;
}

#define IN_TABLE(table, c) in_ranges ((table), G_N_ELEMENTS (table), (c))

/* Rust's char::is_whitespace: the Unicode White_Space property. GLib's
 * g_unichar_isspace leaves out U+000B and U+0085, so the property is spelled
 * out here. */
static gboolean
is_rust_whitespace (gunichar c)
{
  switch (c)
    {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return TRUE;
    default:
      return c >= 0x2000 && c <= 0x200A;
    }
}

/* normalizers/bert.rs do_clean_text: U+0000, U+FFFD and controls go. */
static gboolean
is_dropped_by_clean_text (gunichar c)
{
  return c == 0 || c == 0xFFFD || IN_TABLE (dropped_by_clean_text, c);
}

/* normalizers/bert.rs is_chinese_char, ranges as the crate has them (note
 * 0x2B920, not 0x2B820). */
static gboolean
is_chinese_char (gunichar c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
      || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
      || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
      || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* pre_tokenizers/bert.rs is_bert_punc. */
static gboolean
is_bert_punctuation (gunichar c)
{
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64)
        || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return IN_TABLE (unicode_punctuation, c);
}

/* `\w` of Rust's regex crate (Alphabetic, M, Nd, Pc, Join_Control), which
 * AddedVocabulary uses for single_word tokens. Alphabetic is GLib's letters,
 * Nl, and the symbols with Other_Alphabetic (circled and squared letters). */
static gboolean
is_regex_word_char (gunichar c)
{
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149)
      || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
    return TRUE;
  switch (g_unichar_type (c))
    {
    case G_UNICODE_LOWERCASE_LETTER: case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER: case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER: case G_UNICODE_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK: case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_DECIMAL_NUMBER: case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_CONNECT_PUNCTUATION:
      return TRUE;
    default:
      return c == 0x200C || c == 0x200D;
    }
}

/* Rust's char::to_lowercase, which NormalizedString::lowercase applies one
 * character at a time (so there is no final-sigma rule: 'Σ' is always 'σ').
 * Only U+0130 'İ' lowercases to two characters ("i" + U+0307) in Unicode's
 * unconditional SpecialCasing. Returns how many characters it wrote. */
static int
rust_lowercase (gunichar c, gunichar out[2])
{
  if (c == 0x130)
    {
      out[0] = 'i';
      out[1] = 0x307;
      return 2;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (lowercase_beyond_glib); i++)
    if (c >= lowercase_beyond_glib[i].lo && c <= lowercase_beyond_glib[i].hi)
      {
        out[0] = lowercase_beyond_glib[i].to + (c - lowercase_beyond_glib[i].lo);
        return 1;
      }
  out[0] = g_unichar_tolower (c);
  return 1;
}

/* Canonical decomposition as tokenizers' NFD (the unicode-normalization-
 * alignments crate) does it. That crate predates Unicode 13, so it leaves
 * U+11938 DIVES AKURU VOWEL SIGN O whole: the one canonical decomposition
 * GLib 2.74 knows and it does not. */
static gsize
nfd_decompose (gunichar c, gunichar *out, gsize out_len)
{
  if (c == 0x11938)
    {
      out[0] = c;
      return 1;
    }
  return g_unichar_fully_decompose (c, FALSE, out, out_len);
}

/* ------------------------------------------------------------------------ */
/* The tokenizer                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
  char     *content;
  gunichar *pattern;      /* what is matched: content, normalized when normalized */
  int       pattern_len;
  int       id;
  gboolean  special;
  gboolean  normalized;
  gboolean  lstrip, rstrip, single_word;
} AddedToken;

/* Added tokens by first character, longest first within each list, which
 * gives aho-corasick's LeftmostLongest choice at a given position. */
typedef struct {
  GHashTable *by_first_char;   /* gunichar -> GPtrArray of AddedToken* */
} TokenMatcher;

typedef struct {
  int   sequence;   /* 0 = A, 1 = B, -1 = a special token */
  int   type_id;
  int   id;         /* special tokens only */
  char *text;       /* special tokens only */
} TemplatePiece;

struct _AsTokenizer {
  char         *name;
  /* Not NULL: a decoder's byte-level BPE, to which the public functions
   * dispatch; everything below is then unused (WordPiece's). */
  AsBpe        *bpe;
  int           bpe_bos;            /* -1: none known */
  int           bpe_eos;            /* -1: none known */
  gboolean      bpe_add_bos;        /* a BOS goes in front of the text */
  /* RobertaProcessing: <s> A </s> and <s> A </s></s> B </s> from
   * single_template and pair_template around BPE sentences. */
  gboolean      bpe_roberta;
  gboolean      bpe_trim_offsets;   /* spans leave out a token's edge spaces */
  gboolean      bpe_prefix_space;   /* … except the first word's */

  GStringChunk *vocab_strings;      /* every vocabulary token's bytes */
  GHashTable   *vocab;              /* token -> GINT_TO_POINTER (id + 1) */
  GPtrArray    *vocab_by_id;        /* id -> token, NULL for holes */
  int           longest_token_bytes;

  gboolean      bert_normalizer;    /* FALSE: the text is used as it is */
  gboolean      clean_text;
  gboolean      handle_chinese_chars;
  gboolean      strip_accents;
  gboolean      lowercase;
  gboolean      bert_pre_tokenizer; /* FALSE: each piece is one word */

  char         *unk_token;
  int           unk_id;
  char         *subword_prefix;
  int           max_input_chars_per_word;

  GPtrArray    *added;              /* AddedToken*, owned */
  GHashTable   *added_by_content;   /* content -> AddedToken* */
  GHashTable   *added_by_id;        /* GINT_TO_POINTER (id) -> AddedToken* */
  TokenMatcher  raw_matcher;        /* normalized == FALSE */
  TokenMatcher  normalized_matcher; /* normalized == TRUE */

  GArray       *single_template;    /* TemplatePiece */
  GArray       *pair_template;
};

static void
added_token_free (gpointer data)
{
  AddedToken *t = data;

  g_free (t->content);
  g_free (t->pattern);
  g_free (t);
}

static void
template_piece_clear (gpointer data)
{
  TemplatePiece *piece = data;

  g_free (piece->text);
}

static AsTokenizer *
tokenizer_alloc (const char *display_name)
{
  AsTokenizer *tok = g_new0 (AsTokenizer, 1);

  tok->name = g_strdup (display_name ? display_name : "tokenizer");
  /* Both tables point into vocab_strings: a token costs no allocation of
   * its own, and a 30 000-token vocabulary is freed at once. */
  tok->vocab_strings = g_string_chunk_new (64 * 1024);
  tok->vocab = g_hash_table_new (g_str_hash, g_str_equal);
  tok->vocab_by_id = g_ptr_array_new ();
  tok->added = g_ptr_array_new_with_free_func (added_token_free);
  tok->added_by_content = g_hash_table_new (g_str_hash, g_str_equal);
  tok->added_by_id = g_hash_table_new (g_direct_hash, g_direct_equal);
  tok->raw_matcher.by_first_char =
    g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  tok->normalized_matcher.by_first_char =
    g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  tok->single_template = g_array_new (FALSE, TRUE, sizeof (TemplatePiece));
  tok->pair_template = g_array_new (FALSE, TRUE, sizeof (TemplatePiece));
  g_array_set_clear_func (tok->single_template, template_piece_clear);
  g_array_set_clear_func (tok->pair_template, template_piece_clear);
  tok->unk_id = -1;
  tok->bert_pre_tokenizer = TRUE;
  tok->max_input_chars_per_word = 100;
  return tok;
}

void
as_tokenizer_free (AsTokenizer *tok)
{
  if (tok == NULL)
    return;
  g_free (tok->name);
  as_bpe_free (tok->bpe);
  g_hash_table_unref (tok->vocab);
  g_ptr_array_unref (tok->vocab_by_id);
  g_string_chunk_free (tok->vocab_strings);
  g_hash_table_unref (tok->raw_matcher.by_first_char);
  g_hash_table_unref (tok->normalized_matcher.by_first_char);
  g_hash_table_unref (tok->added_by_content);
  g_hash_table_unref (tok->added_by_id);
  g_ptr_array_unref (tok->added);
  g_array_unref (tok->single_template);
  g_array_unref (tok->pair_template);
  g_free (tok->unk_token);
  g_free (tok->subword_prefix);
  g_free (tok);
}

/* ID spells TOKEN, a string of vocab_strings (the id -> token half of the
 * vocabulary). */
static void
vocab_name_id (AsTokenizer *tok, const char *token, int id)
{
  if ((guint) id >= tok->vocab_by_id->len)
    g_ptr_array_set_size (tok->vocab_by_id, id + 1);
  g_ptr_array_index (tok->vocab_by_id, id) = (gpointer) token;
  tok->longest_token_bytes = MAX (tok->longest_token_bytes, (int) strlen (token));
}

/* A later entry for the same token wins, as in a Rust HashMap insert. */
static void
vocab_add (AsTokenizer *tok, const char *token, int id)
{
  char *kept = g_string_chunk_insert (tok->vocab_strings, token);

  vocab_name_id (tok, kept, id);
  g_hash_table_replace (tok->vocab, kept, GINT_TO_POINTER (id + 1));
}

static int
vocab_lookup (AsTokenizer *tok, const char *token)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (tok->vocab, token)) - 1;
}

int
as_tokenizer_get_vocab_size (AsTokenizer *tok)
{
  if (tok->bpe != NULL)
    return as_bpe_get_vocab_size (tok->bpe);
  int size = tok->vocab_by_id->len;

  for (guint i = 0; i < tok->added->len; i++)
    {
      AddedToken *t = g_ptr_array_index (tok->added, i);
      size = MAX (size, t->id + 1);
    }
  return size;
}

/* Added tokens first, then the model's vocabulary, as AddedVocabulary does. */
int
as_tokenizer_token_to_id (AsTokenizer *tok, const char *token)
{
  AddedToken *t;

  if (token == NULL)
    return -1;
  if (tok->bpe != NULL)
    return as_bpe_token_to_id (tok->bpe, token);
  t = g_hash_table_lookup (tok->added_by_content, token);
  return t ? t->id : vocab_lookup (tok, token);
}

const char *
as_tokenizer_id_to_token (AsTokenizer *tok, int id)
{
  AddedToken *t;

  if (id < 0)
    return NULL;
  if (tok->bpe != NULL)
    return as_bpe_id_to_token (tok->bpe, id);
  t = g_hash_table_lookup (tok->added_by_id, GINT_TO_POINTER (id));
  if (t != NULL)
    return t->content;
  return (guint) id < tok->vocab_by_id->len ? g_ptr_array_index (tok->vocab_by_id, id) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Input: the sentence as characters with their byte offsets                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  gunichar *chars;
  int      *offset;   /* byte offset of chars[i]; offset[n] is the length */
  int       n;
} Input;

/* One character at P (before END); an invalid or truncated sequence reads as
 * U+FFFD and consumes one byte, so no byte is ever skipped or read twice. */
static gunichar
decode_char (const char *p, const char *end, int *len)
{
  guchar first = (guchar) *p;
  gunichar c;

  if (first < 0x80)
    {
      *len = 1;
      return first;
    }
  c = g_utf8_get_char_validated (p, end - p);
  if (c == (gunichar) -1 || c == (gunichar) -2)
    {
      *len = 1;
      return 0xFFFD;
    }
  *len = g_utf8_skip[first];
  return c;
}

/* LENGTH < 0: TEXT is NUL-terminated. Otherwise TEXT may hold NUL bytes,
 * which read as U+0000 and are dropped by clean_text, as HF does. */
static void
input_init (Input *in, const char *text, gssize text_length)
{
  size_t length = text == NULL ? 0 : text_length < 0 ? strlen (text) : (size_t) text_length;
  const char *end;
  int n = 0;

  if (text == NULL || length > G_MAXINT / 2)
    {
      text = "";   /* NULL, or over 1 GiB: read as empty rather than overflow */
      length = 0;
    }
  end = text + length;
  in->chars = g_new (gunichar, length + 1);
  in->offset = g_new (int, length + 1);
  for (const char *p = text; p < end;)
    {
      int len;
      in->chars[n] = decode_char (p, end, &len);
      in->offset[n++] = p - text;
      p += len;
    }
  in->offset[n] = length;
  in->n = n;
}

static void
input_clear (Input *in)
{
  g_free (in->chars);
  g_free (in->offset);
}

/* ------------------------------------------------------------------------ */
/* BertNormalizer (normalizers/bert.rs)                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
  gunichar c;
  int      src;   /* index of the input character it came from */
} NormChar;

static void
push_norm (GArray *chars, gunichar c, int src)
{
  NormChar nc = { c, src };

  g_array_append_val (chars, nc);
}

/* Drops controls, turns every kind of whitespace into a plain space. */
static void
clean_text (GArray *chars)
{
  guint kept = 0;

  for (guint i = 0; i < chars->len; i++)
    {
      NormChar nc = g_array_index (chars, NormChar, i);
      if (is_dropped_by_clean_text (nc.c))
        continue;
      if (is_rust_whitespace (nc.c))
        nc.c = ' ';
      g_array_index (chars, NormChar, kept++) = nc;
    }
  g_array_set_size (chars, kept);
}

/* Puts a space on each side of every CJK ideograph. */
static GArray *
space_chinese_chars (GArray *chars)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (NormChar), chars->len);

  for (guint i = 0; i < chars->len; i++)
    {
      NormChar nc = g_array_index (chars, NormChar, i);
      if (!is_chinese_char (nc.c))
        {
          g_array_append_val (out, nc);
          continue;
        }
      push_norm (out, ' ', nc.src);
      g_array_append_val (out, nc);
      push_norm (out, ' ', nc.src);
    }
  g_array_unref (chars);
  return out;
}

/* Canonical ordering of one run of combining characters: a stable sort by
 * combining class. A counting sort keeps a long run (a paste of thousands of
 * marks) linear. */
static void
order_combining_run (NormChar *run, int n)
{
  guint count[257] = { 0 };
  NormChar *sorted;

  if (n < 2)
    return;
  for (int i = 0; i < n; i++)
    count[g_unichar_combining_class (run[i].c) + 1]++;
  for (int k = 1; k < 257; k++)
    count[k] += count[k - 1];
  sorted = g_new (NormChar, n);
  for (int i = 0; i < n; i++)
    sorted[count[g_unichar_combining_class (run[i].c)]++] = run[i];
  memcpy (run, sorted, n * sizeof (NormChar));
  g_free (sorted);
}

static void
order_combining_marks (GArray *chars)
{
  NormChar *c = (NormChar *) chars->data;
  int n = chars->len;

  for (int i = 0; i < n;)
    {
      int j = i;
      while (j < n && g_unichar_combining_class (c[j].c) != 0)
        j++;
      order_combining_run (c + i, j - i);
      i = j > i ? j : i + 1;
    }
}

/* NFD, then without the nonspacing marks (do_strip_accents). */
static GArray *
strip_accents (GArray *chars)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (NormChar), chars->len);
  guint kept = 0;

  for (guint i = 0; i < chars->len; i++)
    {
      NormChar nc = g_array_index (chars, NormChar, i);
      gunichar parts[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
      gsize n = nfd_decompose (nc.c, parts, G_N_ELEMENTS (parts));
      for (gsize k = 0; k < n; k++)
        push_norm (out, parts[k], nc.src);
    }
  g_array_unref (chars);
  order_combining_marks (out);
  for (guint i = 0; i < out->len; i++)
    {
      NormChar nc = g_array_index (out, NormChar, i);
      if (!IN_TABLE (nonspacing_marks, nc.c))
        g_array_index (out, NormChar, kept++) = nc;
    }
  g_array_set_size (out, kept);
  return out;
}

static GArray *
lowercase (GArray *chars)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (NormChar), chars->len);

  for (guint i = 0; i < chars->len; i++)
    {
      NormChar nc = g_array_index (chars, NormChar, i);
      gunichar lower[2];
      int n = rust_lowercase (nc.c, lower);
      for (int k = 0; k < n; k++)
        push_norm (out, lower[k], nc.src);
    }
  g_array_unref (chars);
  return out;
}

/* The input characters [from, to) after the normalizer, in the order of
 * BertNormalizer::normalize. */
static GArray *
normalize_range (AsTokenizer *tok, const Input *in, int from, int to)
{
  GArray *chars = g_array_sized_new (FALSE, FALSE, sizeof (NormChar), to - from);

  for (int i = from; i < to; i++)
    push_norm (chars, in->chars[i], i);
  if (!tok->bert_normalizer)
    return chars;
  if (tok->clean_text)
    clean_text (chars);
  if (tok->handle_chinese_chars)
    chars = space_chinese_chars (chars);
  if (tok->strip_accents)
    chars = strip_accents (chars);
  if (tok->lowercase)
    chars = lowercase (chars);
  return chars;
}

static char *
norm_chars_to_utf8 (const NormChar *chars, int n)
{
  GString *s = g_string_sized_new (n + 1);

  for (int i = 0; i < n; i++)
    g_string_append_unichar (s, chars[i].c);
  return g_string_free (s, FALSE);
}

char *
as_tokenizer_normalize (AsTokenizer *tok, const char *text)
{
  Input in;
  GArray *chars;
  char *result;

  if (tok->bpe != NULL)
    return g_strdup (text);   /* byte-level BPE has no normalizer */
  input_init (&in, text, -1);
  chars = normalize_range (tok, &in, 0, in.n);
  result = norm_chars_to_utf8 ((NormChar *) chars->data, chars->len);
  g_array_unref (chars);
  input_clear (&in);
  return result;
}

/* ------------------------------------------------------------------------ */
/* Added tokens (tokenizer/added_vocabulary.rs find_matches)                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  int         start, end;   /* characters of the text searched */
  AddedToken *token;        /* NULL: plain text between added tokens */
} Split;

static void
matcher_add (TokenMatcher *m, AddedToken *t)
{
  gpointer key = GUINT_TO_POINTER (t->pattern[0]);
  GPtrArray *list = g_hash_table_lookup (m->by_first_char, key);
  guint i;

  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (m->by_first_char, key, list);
    }
  for (i = 0; i < list->len; i++)
    if (((AddedToken *) g_ptr_array_index (list, i))->pattern_len < t->pattern_len)
      break;
  g_ptr_array_insert (list, i, t);   /* longest first, else in file order */
}

static AddedToken *
longest_match_at (const TokenMatcher *m, const gunichar *s, int n, int at)
{
  GPtrArray *list = g_hash_table_lookup (m->by_first_char, GUINT_TO_POINTER (s[at]));

  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      AddedToken *t = g_ptr_array_index (list, i);
      if (t->pattern_len <= n - at
          && memcmp (s + at, t->pattern, t->pattern_len * sizeof (gunichar)) == 0)
        return t;
    }
  return NULL;
}

/* single_word: no `\w` character touches the match on either side. */
static gboolean
stands_alone (const gunichar *s, int n, int start, int stop)
{
  return (start == 0 || !is_regex_word_char (s[start - 1]))
      && (stop == n || !is_regex_word_char (s[stop]));
}

static void
push_split (GArray *splits, int start, int end, AddedToken *token)
{
  Split split = { start, end, token };

  g_array_append_val (splits, split);
}

/* Cuts S into plain pieces and added tokens. Like aho-corasick's find_iter,
 * matches never overlap and a match rejected for single_word still consumes
 * its characters. lstrip/rstrip take the neighbouring whitespace (`\s`, i.e.
 * White_Space) into the token. */
static void
find_added_tokens (const TokenMatcher *m, const gunichar *s, int n, GArray *splits)
{
  int done = 0;

  if (g_hash_table_size (m->by_first_char) == 0)
    {
      if (n > 0)
        push_split (splits, 0, n, NULL);
      return;
    }
  for (int at = 0; at < n;)
    {
      AddedToken *t = longest_match_at (m, s, n, at);
      int start = at, stop;

      if (t == NULL)
        {
          at++;
          continue;
        }
      stop = at = start + t->pattern_len;
      if (t->single_word && !stands_alone (s, n, start, stop))
        continue;
      if (t->lstrip)
        while (start > done && is_rust_whitespace (s[start - 1]))
          start--;
      if (t->rstrip)
        while (stop < n && is_rust_whitespace (s[stop]))
          stop++;
      start = MAX (start, done);   /* a previous rstrip may have taken it */
      if (done < start)
        push_split (splits, done, start, NULL);
      push_split (splits, start, stop, t);
      done = stop;
    }
  if (done < n)
    push_split (splits, done, n, NULL);
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */
/* ------------------------------------------------------------------------ */

static void
push_token (GArray *out, int id, const char *text, int sequence, int start, int end,
            gboolean special, gboolean continuation)
{
  AsToken t = {
    .id = id,
    .text = g_strdup (text),
    .type_id = sequence == 1 ? 1 : 0,
    .sequence = sequence,
    .start = start,
    .end = end,
    .is_special = special,
    .is_continuation = continuation,
  };

  g_array_append_val (out, t);
}

/* The input bytes behind normalized characters: from the first byte of the
 * earliest source to the last byte of the latest one. */
static void
source_span (const Input *in, const NormChar *chars, int n, int *start, int *end)
{
  int first = chars[0].src, last = chars[0].src;

  for (int i = 1; i < n; i++)
    {
      first = MIN (first, chars[i].src);
      last = MAX (last, chars[i].src);
    }
  *start = in->offset[first];
  *end = in->offset[last + 1];
}

typedef struct {
  AsTokenizer  *tok;
  const Input  *in;
  int           sequence;
  GArray       *out;       /* AsToken */
  GString      *piece;     /* scratch: the candidate vocabulary entry */
  GArray       *pieces;    /* scratch: int triples (start, end, id) of a word */
} Encoder;

/* ------------------------------------------------------------------------ */
/* WordPiece (models/wordpiece/mod.rs)                                        */
/* ------------------------------------------------------------------------ */

static void
push_unknown_word (Encoder *e, const NormChar *word, int n)
{
  int start, end;

  source_span (e->in, word, n, &start, &end);
  push_token (e->out, e->tok->unk_id, e->tok->unk_token, e->sequence, start, end, FALSE, FALSE);
}

/* The longest vocabulary entry for word[start, ...), "##"-prefixed unless it
 * starts the word; returns where it ends, or START when there is none. Ends
 * are tried from the longest that a vocabulary entry could have. */
static int
longest_piece (Encoder *e, const char *utf8, const int *byte_at, int n, int start, int *id)
{
  AsTokenizer *tok = e->tok;
  int end = start;

  while (end < n && byte_at[end + 1] - byte_at[start] <= tok->longest_token_bytes)
    end++;
  for (; end > start; end--)
    {
      g_string_truncate (e->piece, 0);
      if (start > 0)
        g_string_append (e->piece, tok->subword_prefix);
      g_string_append_len (e->piece, utf8 + byte_at[start], byte_at[end] - byte_at[start]);
      *id = vocab_lookup (tok, e->piece->str);
      if (*id >= 0)
        return end;
    }
  return start;
}

/* Cuts the word into e->pieces, (start, end, id) triples; FALSE when some
 * position has no vocabulary entry. */
static gboolean
find_pieces (Encoder *e, const NormChar *word, int n)
{
  GString *utf8 = g_string_sized_new (4 * n + 1);
  int *byte_at = g_new (int, n + 1);
  int start = 0;

  for (int i = 0; i < n; i++)
    {
      byte_at[i] = utf8->len;
      g_string_append_unichar (utf8, word[i].c);
    }
  byte_at[n] = utf8->len;
  g_array_set_size (e->pieces, 0);
  while (start < n)
    {
      int id, end = longest_piece (e, utf8->str, byte_at, n, start, &id);
      int triple[3] = { start, end, id };
      if (end == start)
        break;
      g_array_append_vals (e->pieces, triple, 3);
      start = end;
    }
  g_free (byte_at);
  g_string_free (utf8, TRUE);
  return start == n;
}

/* Greedy longest-match-first; if any position has no piece, the whole word
 * is one [UNK]. Words longer than max_input_chars_per_word characters too. */
static void
wordpiece (Encoder *e, const NormChar *word, int n)
{
  if (n > e->tok->max_input_chars_per_word || !find_pieces (e, word, n))
    {
      push_unknown_word (e, word, n);
      return;
    }
  for (guint k = 0; k < e->pieces->len; k += 3)
    {
      int from = g_array_index (e->pieces, int, k);
      int to = g_array_index (e->pieces, int, k + 1);
      int id = g_array_index (e->pieces, int, k + 2);
      int start, end;
      source_span (e->in, word + from, to - from, &start, &end);
      push_token (e->out, id, g_ptr_array_index (e->tok->vocab_by_id, id), e->sequence,
                  start, end, FALSE, from > 0);
    }
}

/* ------------------------------------------------------------------------ */
/* BertPreTokenizer (pre_tokenizers/bert.rs) and the sentence pipeline        */
/* ------------------------------------------------------------------------ */

/* Whitespace ends a word and is dropped; punctuation is a word of its own. */
static void
split_words (Encoder *e, const NormChar *chars, int n)
{
  int word = 0;

  if (!e->tok->bert_pre_tokenizer)
    {
      if (n > 0)
        wordpiece (e, chars, n);
      return;
    }
  for (int i = 0; i < n; i++)
    {
      gboolean space = is_rust_whitespace (chars[i].c);
      if (!space && !is_bert_punctuation (chars[i].c))
        continue;
      if (word < i)
        wordpiece (e, chars + word, i - word);
      if (!space)
        wordpiece (e, chars + i, 1);
      word = i + 1;
    }
  if (word < n)
    wordpiece (e, chars + word, n - word);
}

static void
push_added_token (Encoder *e, const AddedToken *t, int start, int end)
{
  push_token (e->out, t->id, t->content, e->sequence, start, end, t->special, FALSE);
}

/* Input characters [from, to) that are no raw-matched added token. */
static void
encode_plain (Encoder *e, int from, int to)
{
  GArray *norm = normalize_range (e->tok, e->in, from, to);
  const NormChar *chars = (const NormChar *) norm->data;
  GArray *splits;
  gunichar *text;

  if (g_hash_table_size (e->tok->normalized_matcher.by_first_char) == 0)
    {
      split_words (e, chars, norm->len);
      g_array_unref (norm);
      return;
    }
  text = g_new (gunichar, norm->len + 1);
  for (guint i = 0; i < norm->len; i++)
    text[i] = chars[i].c;
  splits = g_array_new (FALSE, FALSE, sizeof (Split));
  find_added_tokens (&e->tok->normalized_matcher, text, norm->len, splits);
  for (guint i = 0; i < splits->len; i++)
    {
      Split *s = &g_array_index (splits, Split, i);
      int start, end;
      if (s->token == NULL)
        {
          split_words (e, chars + s->start, s->end - s->start);
          continue;
        }
      source_span (e->in, chars + s->start, s->end - s->start, &start, &end);
      push_added_token (e, s->token, start, end);
    }
  g_array_unref (splits);
  g_free (text);
  g_array_unref (norm);
}

/* All tokens of one sentence, before truncation and template. */
static GArray *
encode_sentence (AsTokenizer *tok, const char *text, gssize length, int sequence)
{
  Input in;
  Encoder e = { tok, &in, sequence, NULL, NULL, NULL };
  GArray *splits = g_array_new (FALSE, FALSE, sizeof (Split));

  input_init (&in, text, length);
  e.out = g_array_new (FALSE, FALSE, sizeof (AsToken));
  e.piece = g_string_sized_new (64);
  e.pieces = g_array_new (FALSE, FALSE, sizeof (int));

  find_added_tokens (&tok->raw_matcher, in.chars, in.n, splits);
  for (guint i = 0; i < splits->len; i++)
    {
      Split *s = &g_array_index (splits, Split, i);
      if (s->token != NULL)
        push_added_token (&e, s->token, in.offset[s->start], in.offset[s->end]);
      else
        encode_plain (&e, s->start, s->end);
    }

  g_array_unref (splits);
  g_array_unref (e.pieces);
  g_string_free (e.piece, TRUE);
  input_clear (&in);
  return e.out;
}

/* ------------------------------------------------------------------------ */
/* Truncation (utils/truncation.rs) and the template                          */
/* ------------------------------------------------------------------------ */

static int
count_special_pieces (GArray *template)
{
  int n = 0;

  for (guint i = 0; i < template->len; i++)
    n += g_array_index (template, TemplatePiece, i).sequence < 0;
  return n;
}

/* LongestFirst for a pair, in its closed form: when the shorter sentence
 * leaves room, the longer one gets the rest; otherwise each gets half of
 * BUDGET and an odd token goes to the one that was longer (to B on a tie). */
static void
longest_first (int budget, int n_a, int n_b, int *keep_a, int *keep_b)
{
  gboolean swapped = n_a > n_b;
  int n1 = MIN (n_a, n_b), n2;

  n2 = n1 > budget ? n1 : MAX (n1, budget - n1);
  if (n1 + n2 > budget)
    {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
  *keep_a = MIN (n_a, swapped ? n2 : n1);
  *keep_b = MIN (n_b, swapped ? n1 : n2);
}

/* MAX_LENGTH counts the template's special tokens, as HF's truncation does
 * (it truncates the sentences to max_length minus the added tokens). */
static void
truncate_sentences (int max_length, int n_special, GArray *a, GArray *b, AsEncoding *enc)
{
  int budget = MAX (0, max_length - n_special);
  int n_a = a->len, n_b = b ? (int) b->len : 0;
  int keep_a = n_a, keep_b = n_b;

  if (max_length <= 0 || n_a + n_b <= budget)
    return;
  if (b == NULL)
    keep_a = budget;
  else
    longest_first (budget, n_a, n_b, &keep_a, &keep_b);
  enc->n_dropped = (n_a - keep_a) + (n_b - keep_b);
  enc->truncated = enc->n_dropped > 0;
  g_array_set_size (a, keep_a);   /* the clear func frees the dropped texts */
  if (b != NULL)
    g_array_set_size (b, keep_b);
}

static void
clear_token (gpointer data)
{
  AsToken *t = data;

  g_free (t->text);
  t->text = NULL;
}

/* Moves the sentence tokens into OUT with the template's type id. */
static void
append_sentence (GArray *out, GArray *sentence, int type_id)
{
  for (guint i = 0; i < sentence->len; i++)
    {
      AsToken t = g_array_index (sentence, AsToken, i);
      t.type_id = type_id;
      g_array_append_val (out, t);
      g_array_index (sentence, AsToken, i).text = NULL;
    }
}

static void
apply_template (GArray *template, GArray *a, GArray *b, GArray *out)
{
  for (guint i = 0; i < template->len; i++)
    {
      TemplatePiece *piece = &g_array_index (template, TemplatePiece, i);
      if (piece->sequence == 0)
        append_sentence (out, a, piece->type_id);
      else if (piece->sequence == 1 && b != NULL)
        append_sentence (out, b, piece->type_id);
      else if (piece->sequence < 0)
        {
          push_token (out, piece->id, piece->text, -1, -1, -1, TRUE, FALSE);
          g_array_index (out, AsToken, out->len - 1).type_id = piece->type_id;
        }
    }
}

/* RobertaProcessing's trim_offsets (HF's ByteLevel process_offsets): the
 * span of token I of TEXT leaves out the spaces at its ends, which
 * byte-level BPE keeps inside tokens ("Ġworld"), except a leading one that
 * add_prefix_space put before the first word. Ids are unaffected. */
static void
trim_bpe_offsets (AsTokenizer *tok, const char *text, AsToken *t, int i)
{
  int lead = 0, trail = 0;

  if (t->start < 0 || t->end <= t->start)
    return;
  while (t->start + lead < t->end && text[t->start + lead] == ' ')
    lead++;
  while (t->end - trail > t->start + lead && text[t->end - trail - 1] == ' ')
    trail++;
  if (tok->bpe_prefix_space && (i == 0 || t->start == 0))
    lead = 0;
  t->start += lead;
  t->end = MAX (t->end - trail, t->start);
}

/* One sentence's BPE tokens for a template (RobertaProcessing), labelled
 * as encode_bpe labels them, in the layout encode_sentence gives. */
static GArray *
encode_bpe_sentence (AsTokenizer *tok, const char *text, gssize length, int sequence)
{
  AsEncoding *enc = as_bpe_encode (tok->bpe, text, length);
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (AsToken), enc->n_tokens);

  for (int i = 0; i < enc->n_tokens; i++)
    {
      AsToken t = enc->tokens[i];
      char *label = as_bpe_id_to_label (tok->bpe, t.id);
      g_free (t.text);
      t.text = label != NULL ? label : g_strdup ("");
      t.sequence = sequence;
      t.type_id = sequence == 1 ? 1 : 0;
      if (tok->bpe_trim_offsets)
        trim_bpe_offsets (tok, text, &t, i);
      g_array_append_val (out, t);
    }
  g_free (enc->tokens);
  g_free (enc);
  return out;
}

/* A decoder's text: its BPE tokens labelled for reading, cut to MAX_LENGTH
 * as WordPiece cuts a single sentence (the BOS counting as the template's
 * special token), then the BOS in front when the model wants one. */
static AsEncoding *
encode_bpe (AsTokenizer *tok, const char *text, gssize length, int max_length)
{
  AsEncoding *enc = as_bpe_encode (tok->bpe, text, text != NULL ? length : 0);
  int bos = tok->bpe_bos;
  gboolean add_bos = tok->bpe_add_bos && bos >= 0;
  int budget = MAX (0, max_length - (add_bos ? 1 : 0));

  /* The views show what a token stands for: " world", not its vocabulary
   * spelling "Ġworld". */
  for (int i = 0; i < enc->n_tokens; i++)
    {
      char *label = as_bpe_id_to_label (tok->bpe, enc->tokens[i].id);
      g_free (enc->tokens[i].text);
      enc->tokens[i].text = label != NULL ? label : g_strdup ("");
    }
  if (max_length > 0 && enc->n_tokens > budget)
    {
      for (int i = budget; i < enc->n_tokens; i++)
        g_free (enc->tokens[i].text);
      enc->n_dropped = enc->n_tokens - budget;
      enc->truncated = TRUE;
      enc->n_tokens = budget;
    }
  if (add_bos)
    {
      char *label = as_bpe_id_to_label (tok->bpe, bos);
      AsToken t = {
        .id = bos,
        .text = label != NULL ? label : g_strdup (""),
        .type_id = 0,
        .sequence = -1,   /* added around the text, as a template token */
        .start = -1,
        .end = -1,
        .is_special = TRUE,
      };
      enc->tokens = g_renew (AsToken, enc->tokens, enc->n_tokens + 1);
      memmove (enc->tokens + 1, enc->tokens, sizeof (AsToken) * enc->n_tokens);
      enc->tokens[0] = t;
      enc->n_tokens++;
    }
  return enc;
}

int
as_tokenizer_get_eos_id (AsTokenizer *tok)
{
  return tok->bpe != NULL ? tok->bpe_eos : -1;
}

AsBpe *
as_tokenizer_get_bpe (AsTokenizer *tok)
{
  return tok->bpe;
}

char *
as_tokenizer_id_to_label (AsTokenizer *tok,
                          int          id)
{
  if (tok->bpe != NULL)
    return as_bpe_id_to_label (tok->bpe, id);
  return g_strdup (as_tokenizer_id_to_token (tok, id));
}

gboolean
as_tokenizer_takes_pairs (AsTokenizer *tok)
{
  return tok->bpe == NULL || tok->bpe_roberta;
}

gboolean
as_tokenizer_check_pair (AsTokenizer *tok, const char *text_b, GError **error)
{
  if (text_b == NULL || as_tokenizer_takes_pairs (tok))
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "this model takes one text: a decoder has no sentence pairs "
                       "(leave out the second text)");
  return FALSE;
}

AsEncoding *
as_tokenizer_encode (AsTokenizer *tok, const char *text_a, const char *text_b, int max_length)
{
  return as_tokenizer_encode_len (tok, text_a, -1, text_b, -1, max_length);
}

AsEncoding *
as_tokenizer_encode_len (AsTokenizer *tok,
                         const char  *text_a,
                         gssize       length_a,
                         const char  *text_b,
                         gssize       length_b,
                         int          max_length)
{
  if (tok->bpe != NULL && !tok->bpe_roberta)
    return encode_bpe (tok, text_a, length_a, max_length);

  AsEncoding *enc = g_new0 (AsEncoding, 1);
  GArray *template = text_b ? tok->pair_template : tok->single_template;
  GArray *(*sentence) (AsTokenizer *, const char *, gssize, int) =
    tok->bpe != NULL ? encode_bpe_sentence : encode_sentence;
  GArray *a = sentence (tok, text_a ? text_a : "", text_a ? length_a : 0, 0);
  GArray *b = text_b ? sentence (tok, text_b, length_b, 1) : NULL;
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (AsToken),
                                   a->len + (b ? b->len : 0) + template->len);

  g_array_set_clear_func (a, clear_token);
  if (b != NULL)
    g_array_set_clear_func (b, clear_token);
  truncate_sentences (max_length, count_special_pieces (template), a, b, enc);
  apply_template (template, a, b, out);
  g_array_unref (a);
  if (b != NULL)
    g_array_unref (b);
  enc->n_tokens = out->len;
  enc->tokens = (AsToken *) g_array_free (out, FALSE);
  return enc;
}

void
as_encoding_free (AsEncoding *enc)
{
  if (enc == NULL)
    return;
  for (int i = 0; i < enc->n_tokens; i++)
    g_free (enc->tokens[i].text);
  g_free (enc->tokens);
  g_free (enc);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */


/* Ids index a table (vocab_by_id), so a hostile file must not name an id of
 * two billion: 2^20 is beyond the largest vocabulary a config may declare
 * (as-config.c) and keeps that table under 8 MB. */
#define MAX_TOKEN_ID ((1 << 20) - 1)

/* An id: an integer in [0, MAX_TOKEN_ID]. */
static gboolean
node_to_id (JsonNode *node, int *id)
{
  gint64 value;

  if (!as_json_holds_type (node, G_TYPE_INT64))
    return FALSE;
  value = json_node_get_int (node);
  if (value < 0 || value > MAX_TOKEN_ID)
    return FALSE;
  *id = (int) value;
  return TRUE;
}

static gboolean
is_null_or_absent (JsonObject *o, const char *name)
{
  JsonNode *node = as_json_member (o, name);

  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

/* --- model: WordPiece ---------------------------------------------------- */

/* model.vocab, read as the scanner goes through the text (as-json-scan.h)
 * instead of from a tree: a vocabulary is most of a tokenizer.json, and
 * json-glib's tree of it took longer to build and free than the rest of
 * a model's load. The token -> id table fills as members arrive; a member
 * whose value is not an id is marked, not refused at once, because a later
 * member of the same name replaces it (the last one counts, as in
 * json-glib and serde). The id -> token half is made at the end, in the
 * order the names first appeared. */
typedef struct {
  AsTokenizer *tok;
  GPtrArray   *order;    /* the names, first appearances (in tok->vocab_strings) */
  GArray      *values;   /* gpointer: what each had then */
  guint        repeats;  /* members whose name came before */
  gboolean     found;    /* an object was at model.vocab */
} VocabStream;

/* What tok->vocab holds for a member whose value is not an id. */
#define NOT_AN_ID GINT_TO_POINTER (-1)

/* A JSON integer in [0, MAX_TOKEN_ID] ("-0" is 0, as json-glib reads it). */
static gboolean
value_to_id (const AsJsonValue *value, int *id)
{
  gint64 v = 0;

  if (value->kind != AS_JSON_NUMBER)
    return FALSE;
  const char *p = value->text, *end = value->text + value->length;
  if (p < end && *p == '-')
    p++;
  if (p == end)
    return FALSE;
  for (; p < end; p++)
    {
      if (*p < '0' || *p > '9')
        return FALSE;            /* a fraction or an exponent: json-glib's double */
      v = v * 10 + (*p - '0');
      if (v > MAX_TOKEN_ID)
        return FALSE;
    }
  if (value->text[0] == '-' && v != 0)
    return FALSE;
  *id = (int) v;
  return TRUE;
}

static void
vocab_stream_begin (gpointer data)
{
  VocabStream *vs = data;

  g_hash_table_remove_all (vs->tok->vocab);
  g_ptr_array_set_size (vs->order, 0);
  g_array_set_size (vs->values, 0);
  vs->repeats = 0;
  vs->found = TRUE;
}

static void
vocab_stream_member (gpointer data, const char *key, gsize key_length,
                     const AsJsonValue *value)
{
  VocabStream *vs = data;
  int id;
  gpointer stored = value_to_id (value, &id) ? GINT_TO_POINTER (id + 1) : NOT_AN_ID;
  /* A name with a \u0000 ends there, as json-glib keeps it. For a name
   * already there the table keeps its first key, and this copy goes unused
   * (a duplicate costs its bytes, once). */
  char *name = g_string_chunk_insert (vs->tok->vocab_strings, key);

  if (g_hash_table_insert (vs->tok->vocab, name, stored))
    {
      g_ptr_array_add (vs->order, name);
      g_array_append_val (vs->values, stored);
    }
  else
    vs->repeats++;
}

/* The id -> token half, or the first name whose value is not an id. */
static gboolean
vocab_stream_finish (VocabStream *vs, GError **error)
{
  AsTokenizer *tok = vs->tok;

  for (guint i = 0; i < vs->order->len; i++)
    {
      const char *token = g_ptr_array_index (vs->order, i);
      /* Without repeated names, what each had first is what it has. */
      gpointer stored = vs->repeats == 0 ? g_array_index (vs->values, gpointer, i)
                                         : g_hash_table_lookup (tok->vocab, token);
      if (stored == NOT_AN_ID)
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: model.vocab: the id of \"%s\" is not an integer from 0 to %d",
                     tok->name, token, MAX_TOKEN_ID);
      vocab_name_id (tok, token, GPOINTER_TO_INT (stored) - 1);
    }
  return TRUE;
}

static gboolean
load_wordpiece (AsTokenizer *tok, JsonObject *root, VocabStream *vs, GError **error)
{
  JsonObject *model = as_json_get_object (root, "model");
  JsonObject *vocab = as_json_get_object (model, "vocab");
  const char *type = as_json_get_string (model, "type", "WordPiece");
  JsonNode *max_chars = as_json_member (model, "max_input_chars_per_word");

  if (model == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: no \"model\" object", tok->name);
  if (g_strcmp0 (type, "WordPiece") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: model.type is \"%s\"; only WordPiece (BERT) tokenizers are supported",
                 tok->name, type);
  if (vocab == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: model.vocab is missing or not an object", tok->name);
  tok->unk_token = g_strdup (as_json_get_string (model, "unk_token", "[UNK]"));
  tok->subword_prefix = g_strdup (as_json_get_string (model, "continuing_subword_prefix", "##"));
  if (max_chars != NULL && !node_to_id (max_chars, &tok->max_input_chars_per_word))
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: model.max_input_chars_per_word is not an integer from 0 to %d",
                 tok->name, MAX_TOKEN_ID);
  /* The tree holds an empty object where the scanner read the vocabulary:
   * the last object at model.vocab, which is the one json-glib keeps. */
  return vocab_stream_finish (vs, error);
}

/* --- normalizer and pre-tokenizer ---------------------------------------- */

static void
set_bert_normalizer (AsTokenizer *tok, gboolean lowercase, JsonObject *config)
{
  JsonNode *strip = as_json_member (config, "strip_accents");

  tok->bert_normalizer = TRUE;
  tok->clean_text = as_json_get_bool (config, "clean_text", TRUE);
  tok->handle_chinese_chars = as_json_get_bool (config, "handle_chinese_chars", TRUE);
  tok->lowercase = as_json_get_bool (config, "lowercase", lowercase);
  /* normalizers/bert.rs: strip_accents null means "as lowercase". */
  tok->strip_accents = as_json_holds_type (strip, G_TYPE_BOOLEAN) ? json_node_get_boolean (strip)
                                                           : tok->lowercase;
}

static gboolean
load_normalizer (AsTokenizer *tok, JsonObject *root, GError **error)
{
  JsonObject *normalizer = as_json_get_object (root, "normalizer");
  const char *type = as_json_get_string (normalizer, "type", NULL);

  if (is_null_or_absent (root, "normalizer"))
    return TRUE;
  if (g_strcmp0 (type, "BertNormalizer") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: normalizer.type is \"%s\"; only BertNormalizer is supported",
                 tok->name, type ? type : "(none)");
  set_bert_normalizer (tok, TRUE, normalizer);
  return TRUE;
}

static gboolean
load_pre_tokenizer (AsTokenizer *tok, JsonObject *root, GError **error)
{
  const char *type = as_json_get_string (as_json_get_object (root, "pre_tokenizer"), "type", NULL);

  tok->bert_pre_tokenizer = !is_null_or_absent (root, "pre_tokenizer");
  if (tok->bert_pre_tokenizer && g_strcmp0 (type, "BertPreTokenizer") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer.type is \"%s\"; only BertPreTokenizer is supported",
                 tok->name, type ? type : "(none)");
  return TRUE;
}

/* --- added tokens -------------------------------------------------------- */

static gunichar *
utf8_to_chars (const char *text, int *n)
{
  Input in;
  gunichar *chars;

  input_init (&in, text, -1);
  chars = in.chars;
  *n = in.n;
  g_free (in.offset);
  return chars;
}

/* A token with normalized=true is matched in its normalized form, as
 * AddedVocabulary::refresh_added_tokens prepares it. */
static void
set_pattern (AsTokenizer *tok, AddedToken *t)
{
  if (t->normalized)
    {
      char *normalized = as_tokenizer_normalize (tok, t->content);
      t->pattern = utf8_to_chars (normalized, &t->pattern_len);
      g_free (normalized);
    }
  else
    t->pattern = utf8_to_chars (t->content, &t->pattern_len);
}

static void
add_added_token (AsTokenizer *tok, AddedToken *t)
{
  g_ptr_array_add (tok->added, t);
  g_hash_table_replace (tok->added_by_content, t->content, t);
  g_hash_table_replace (tok->added_by_id, GINT_TO_POINTER (t->id), t);
  set_pattern (tok, t);
  if (t->pattern_len > 0)
    matcher_add (t->normalized ? &tok->normalized_matcher : &tok->raw_matcher, t);
}

static gboolean
load_added_token (AsTokenizer *tok, JsonObject *o, guint index, GError **error)
{
  const char *content = as_json_get_string (o, "content", NULL);
  AddedToken *t;
  int id;

  if (content == NULL || !node_to_id (as_json_member (o, "id"), &id))
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: added_tokens[%u] needs a string \"content\" and an integer \"id\"",
                 tok->name, index);
  if (*content == '\0')
    return TRUE;   /* AddedVocabulary ignores empty tokens */
  t = g_new0 (AddedToken, 1);
  t->content = g_strdup (content);
  t->id = id;
  t->special = as_json_get_bool (o, "special", FALSE);
  t->normalized = as_json_get_bool (o, "normalized", !t->special);
  t->lstrip = as_json_get_bool (o, "lstrip", FALSE);
  t->rstrip = as_json_get_bool (o, "rstrip", FALSE);
  t->single_word = as_json_get_bool (o, "single_word", FALSE);
  add_added_token (tok, t);
  return TRUE;
}

static gboolean
load_added_tokens (AsTokenizer *tok, JsonObject *root, GError **error)
{
  JsonArray *list = as_json_get_array (root, "added_tokens");

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *o = as_json_array_object_at (list, i);
      if (o == NULL)
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: added_tokens[%u] is not an object",
                     tok->name, i);
      if (!load_added_token (tok, o, i, error))
        return FALSE;
    }
  return TRUE;
}

/* --- post-processor ------------------------------------------------------ */

static void
add_sequence_piece (GArray *template, int sequence, int type_id)
{
  TemplatePiece piece = { sequence, type_id, -1, NULL };

  g_array_append_val (template, piece);
}

static void
add_special_piece (GArray *template, const char *text, int id, int type_id)
{
  TemplatePiece piece = { -1, type_id, id, g_strdup (text) };

  g_array_append_val (template, piece);
}

/* A template's SpecialToken: its ids and tokens come from the template's
 * "special_tokens" map, as TemplateProcessing resolves them. */
static gboolean
add_template_special (AsTokenizer *tok, GArray *template, JsonObject *specials,
                      const char *name, int type_id, GError **error)
{
  JsonObject *entry = as_json_get_object (specials, name);
  JsonArray *ids = as_json_get_array (entry, "ids");
  JsonArray *tokens = as_json_get_array (entry, "tokens");
  guint n = ids ? json_array_get_length (ids) : 0;

  if (n == 0 || tokens == NULL || json_array_get_length (tokens) != n)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: post_processor.special_tokens has no usable entry for \"%s\"",
                 tok->name, name);
  for (guint i = 0; i < n; i++)
    {
      int id;
      const char *text = as_json_array_string_at (tokens, i);
      if (!node_to_id (json_array_get_element (ids, i), &id) || text == NULL)
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: post_processor.special_tokens.\"%s\" has a bad id or token",
                     tok->name, name);
      add_special_piece (template, text, id, type_id);
    }
  return TRUE;
}

static gboolean
load_template_piece (AsTokenizer *tok, GArray *template, JsonObject *piece,
                     JsonObject *specials, GError **error)
{
  JsonObject *sequence = as_json_get_object (piece, "Sequence");
  JsonObject *special = as_json_get_object (piece, "SpecialToken");
  JsonObject *body = sequence ? sequence : special;
  const char *id = as_json_get_string (body, "id", NULL);
  JsonNode *type_node = as_json_member (body, "type_id");
  int type_id = 0;

  if (id == NULL || (type_node != NULL && !node_to_id (type_node, &type_id)))
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: post_processor: a template piece is neither Sequence nor SpecialToken",
                 tok->name);
  if (special != NULL)
    return add_template_special (tok, template, specials, id, type_id, error);
  if (strcmp (id, "A") != 0 && strcmp (id, "B") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: post_processor: unknown template sequence \"%s\"", tok->name, id);
  add_sequence_piece (template, id[0] == 'A' ? 0 : 1, type_id);
  return TRUE;
}

static gboolean
load_template (AsTokenizer *tok, JsonObject *processor, const char *which,
               GArray *template, GError **error)
{
  JsonArray *pieces = as_json_get_array (processor, which);
  JsonObject *specials = as_json_get_object (processor, "special_tokens");

  if (pieces == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: post_processor.%s is not a list of pieces", tok->name, which);
  for (guint i = 0; i < json_array_get_length (pieces); i++)
    {
      JsonObject *piece = as_json_array_object_at (pieces, i);
      if (!load_template_piece (tok, template, piece, specials, error))
        return FALSE;
    }
  /* A sentence's tokens are moved into the encoding, once: a template that
   * names A or B twice (no real tokenizer does) would repeat them beyond the
   * truncation budget, so it is refused. */
  for (int sequence = 0; sequence < 2; sequence++)
    {
      int uses = 0;
      for (guint i = 0; i < template->len; i++)
        uses += g_array_index (template, TemplatePiece, i).sequence == sequence;
      if (uses > 1)
        return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: post_processor.%s uses sequence %c %d times (at most once is supported)",
                     tok->name, which, sequence == 0 ? 'A' : 'B', uses);
    }
  return TRUE;
}

/* [CLS] A [SEP] and [CLS] A [SEP] B [SEP], type ids 0 … 0 1 … 1. */
static void
set_bert_template (AsTokenizer *tok, const char *cls, int cls_id, const char *sep, int sep_id)
{
  add_special_piece (tok->single_template, cls, cls_id, 0);
  add_sequence_piece (tok->single_template, 0, 0);
  add_special_piece (tok->single_template, sep, sep_id, 0);
  add_special_piece (tok->pair_template, cls, cls_id, 0);
  add_sequence_piece (tok->pair_template, 0, 0);
  add_special_piece (tok->pair_template, sep, sep_id, 0);
  add_sequence_piece (tok->pair_template, 1, 1);
  add_special_piece (tok->pair_template, sep, sep_id, 1);
}

/* BertProcessing's and RobertaProcessing's "sep": ["[SEP]", 102] and
 * "cls": ["[CLS]", 101]; *SEP and *CLS point into PROCESSOR. */
static gboolean
read_cls_sep (AsTokenizer *tok, JsonObject *processor, const char *type,
              const char **cls, int *cls_id, const char **sep, int *sep_id, GError **error)
{
  JsonArray *sep_a = as_json_get_array (processor, "sep");
  JsonArray *cls_a = as_json_get_array (processor, "cls");

  if (sep_a == NULL || cls_a == NULL || json_array_get_length (sep_a) != 2
      || json_array_get_length (cls_a) != 2
      || !node_to_id (json_array_get_element (sep_a, 1), sep_id)
      || !node_to_id (json_array_get_element (cls_a, 1), cls_id)
      || !as_json_holds_type (json_array_get_element (sep_a, 0), G_TYPE_STRING)
      || !as_json_holds_type (json_array_get_element (cls_a, 0), G_TYPE_STRING))
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: post_processor (%s) needs \"sep\" and \"cls\" as [token, id]",
                 tok->name, type);
  *cls = as_json_array_string_at (cls_a, 0);
  *sep = as_json_array_string_at (sep_a, 0);
  return TRUE;
}

/* BertProcessing: "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]. */
static gboolean
load_bert_processing (AsTokenizer *tok, JsonObject *processor, GError **error)
{
  const char *cls, *sep;
  int sep_id, cls_id;

  if (!read_cls_sep (tok, processor, "BertProcessing", &cls, &cls_id, &sep, &sep_id, error))
    return FALSE;
  set_bert_template (tok, cls, cls_id, sep, sep_id);
  return TRUE;
}

/* RobertaProcessing: <s> A </s> and <s> A </s></s> B </s>, every type id 0
 * (RoBERTa has one token type). */
static gboolean
load_roberta_processing (AsTokenizer *tok, JsonObject *processor, GError **error)
{
  const char *cls, *sep;
  int sep_id, cls_id;

  if (!read_cls_sep (tok, processor, "RobertaProcessing", &cls, &cls_id, &sep, &sep_id, error))
    return FALSE;
  add_special_piece (tok->single_template, cls, cls_id, 0);
  add_sequence_piece (tok->single_template, 0, 0);
  add_special_piece (tok->single_template, sep, sep_id, 0);
  add_special_piece (tok->pair_template, cls, cls_id, 0);
  add_sequence_piece (tok->pair_template, 0, 0);
  add_special_piece (tok->pair_template, sep, sep_id, 0);
  add_special_piece (tok->pair_template, sep, sep_id, 0);
  add_sequence_piece (tok->pair_template, 1, 0);
  add_special_piece (tok->pair_template, sep, sep_id, 0);
  tok->bpe_roberta = TRUE;
  tok->bpe_trim_offsets = as_json_get_bool (processor, "trim_offsets", TRUE);
  tok->bpe_prefix_space = as_json_get_bool (processor, "add_prefix_space", TRUE);
  return TRUE;
}

/* No post-processor: the sentences as they are, B with type id 1. */
static gboolean
load_post_processor (AsTokenizer *tok, JsonObject *root, GError **error)
{
  JsonObject *processor = as_json_get_object (root, "post_processor");
  const char *type = as_json_get_string (processor, "type", NULL);

  if (is_null_or_absent (root, "post_processor"))
    {
      add_sequence_piece (tok->single_template, 0, 0);
      add_sequence_piece (tok->pair_template, 0, 0);
      add_sequence_piece (tok->pair_template, 1, 1);
      return TRUE;
    }
  if (g_strcmp0 (type, "TemplateProcessing") == 0)
    return load_template (tok, processor, "single", tok->single_template, error)
        && load_template (tok, processor, "pair", tok->pair_template, error);
  if (g_strcmp0 (type, "BertProcessing") == 0)
    return load_bert_processing (tok, processor, error);
  return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
               "%s: post_processor.type is \"%s\"; only TemplateProcessing and "
               "BertProcessing are supported", tok->name, type ? type : "(none)");
}

/* --- constructors -------------------------------------------------------- */

/* WordPiece needs its unknown token in the vocabulary (else HF fails with
 * MissingUnkToken on the first unknown word). */
static gboolean
resolve_unknown_token (AsTokenizer *tok, GError **error)
{
  tok->unk_id = vocab_lookup (tok, tok->unk_token);
  if (tok->unk_id < 0)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: the unknown token \"%s\" is not in the vocabulary",
                 tok->name, tok->unk_token);
  return TRUE;
}

static gboolean
load_tokenizer_json (AsTokenizer *tok, JsonObject *root, VocabStream *vs, GError **error)
{
  /* Order matters: normalized added tokens are normalized by the normalizer. */
  return load_wordpiece (tok, root, vs, error)
      && load_normalizer (tok, root, error)
      && load_pre_tokenizer (tok, root, error)
      && load_added_tokens (tok, root, error)
      && load_post_processor (tok, root, error)
      && resolve_unknown_token (tok, error);
}

/* What a BPE tokenizer.json's post-processor adds to one text: a
 * TemplateProcessing whose single template is A alone or one special token
 * then A (a BOS, as transformers saves add_bos_token); RobertaProcessing's
 * template around one text or a pair. Other post-processors (ByteLevel's
 * offset trimming, none) add nothing. */
static gboolean
load_bpe_post_processor (AsTokenizer *tok, JsonObject *root, GError **error)
{
  JsonObject *processor = as_json_get_object (root, "post_processor");
  GArray *single = tok->single_template;

  if (g_strcmp0 (as_json_get_string (processor, "type", NULL), "RobertaProcessing") == 0)
    return load_roberta_processing (tok, processor, error);
  if (g_strcmp0 (as_json_get_string (processor, "type", NULL), "TemplateProcessing") != 0)
    return TRUE;
  if (!load_template (tok, processor, "single", single, error))
    return FALSE;
  if (single->len == 2 && g_array_index (single, TemplatePiece, 0).sequence == -1 &&
      g_array_index (single, TemplatePiece, 1).sequence == 0)
    {
      tok->bpe_bos = g_array_index (single, TemplatePiece, 0).id;
      tok->bpe_add_bos = TRUE;
    }
  else if (!(single->len == 1 && g_array_index (single, TemplatePiece, 0).sequence == 0))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: post_processor.single is not supported for a BPE tokenizer "
                 "(only the text, or one special token before it)", tok->name);
  return TRUE;
}

/* A tokenizer.json whose model is BPE: byte-level BPE (as-bpe.h), which
 * reads the text again itself, and the BOS its post-processor puts first.
 * Its EOS, and its BOS when the post-processor names none, come from
 * tokenizer_config.json (read_bpe_specials). */
static gboolean
load_bpe_json (AsTokenizer *tok, const char *json, gsize length, JsonObject *root,
               GError **error)
{
  tok->bpe = as_bpe_new_from_tokenizer_json (json, length, error);
  tok->bpe_bos = tok->bpe_eos = -1;
  if (tok->bpe == NULL)
    {
      /* as-bpe names the file "tokenizer.json"; say which one. */
      if (error != NULL && *error != NULL && g_str_has_prefix ((*error)->message, "tokenizer.json: "))
        {
          char *message = g_strconcat (tok->name, (*error)->message + strlen ("tokenizer.json"), NULL);
          g_free ((*error)->message);
          (*error)->message = message;
        }
      return FALSE;
    }
  return load_bpe_post_processor (tok, root, error);
}

/* The file's "truncation" and "padding" sections are ignored on purpose: the
 * caller decides the length (see as_tokenizer_encode). */
AsTokenizer *
as_tokenizer_new_from_json (const char *json, gsize length, const char *display_name,
                            GError **error)
{
  static const char *const vocab_path[] = { "model", "vocab", NULL };
  AsTokenizer *tok = tokenizer_alloc (display_name);
  JsonParser *parser = json_parser_new ();
  VocabStream vs = { tok, g_ptr_array_new (), g_array_new (FALSE, FALSE, sizeof (gpointer)), 0, FALSE };
  const AsJsonWatch watch = { vocab_path, vocab_stream_begin, vocab_stream_member, &vs };
  AsJsonScanned scanned;
  g_autofree char *rest = NULL;
  JsonNode *root;

  if (!as_json_guard_check (json, length, tok->name, &watch, &scanned, error))
    goto failed;
  /* json-glib reads the rest: the file with its vocabulary left out. */
  gsize rest_length = length;
  if (vs.found)
    {
      rest_length = length - (scanned.watched_end - scanned.watched_begin) + 2;
      rest = g_malloc (rest_length + 1);
      memcpy (rest, json, scanned.watched_begin);
      memcpy (rest + scanned.watched_begin, "{}", 2);
      memcpy (rest + scanned.watched_begin + 2, json + scanned.watched_end,
              length - scanned.watched_end);
      rest[rest_length] = '\0';
    }
  if (!as_json_guard_load (parser, rest != NULL ? rest : json, rest_length, tok->name, error))
    goto failed;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: the top level is not a JSON object", tok->name);
      goto failed;
    }
  JsonObject *top = json_node_get_object (root);
  gboolean is_bpe = g_strcmp0 (as_json_get_string (as_json_get_object (top, "model"), "type", NULL),
                               "BPE") == 0;
  if (is_bpe)
    g_hash_table_remove_all (tok->vocab);   /* as-bpe reads its own */
  if (is_bpe ? !load_bpe_json (tok, json, length, top, error)
             : !load_tokenizer_json (tok, top, &vs, error))
    goto failed;
  g_ptr_array_unref (vs.order);
  g_array_unref (vs.values);
  g_object_unref (parser);
  return tok;

failed:
  g_ptr_array_unref (vs.order);
  g_array_unref (vs.values);
  g_object_unref (parser);
  as_tokenizer_free (tok);
  return NULL;
}

/* Rust's str::trim_end: trailing White_Space characters. */
static gsize
trimmed_length (const char *line, gsize length)
{
  while (length > 0)
    {
      const char *last = g_utf8_find_prev_char (line, line + length);
      if (last == NULL || !is_rust_whitespace (g_utf8_get_char (last)))
        break;
      length = last - line;
    }
  return length;
}

/* WordPiece::read_file: line N (from 0) is token N, trailing whitespace
 * trimmed, a later duplicate wins. */
static gboolean
load_vocab_lines (AsTokenizer *tok, const char *text, gsize length, GError **error)
{
  const char *end = text + length;
  int id = 0;

  for (const char *line = text; line < end; id++)
    {
      const char *newline = memchr (line, '\n', end - line);
      gsize len = (newline ? newline : end) - line;
      char *token;
      if (!g_utf8_validate_len (line, len, NULL))
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: line %d is not valid UTF-8",
                     tok->name, id + 1);
      token = g_strndup (line, trimmed_length (line, len));
      vocab_add (tok, token, id);
      g_free (token);
      line += len + 1;
    }
  return TRUE;
}

static void
add_special_if_known (AsTokenizer *tok, const char *content)
{
  AddedToken *t;
  int id = vocab_lookup (tok, content);

  if (id < 0)
    return;
  t = g_new0 (AddedToken, 1);
  t->content = g_strdup (content);
  t->id = id;
  t->special = TRUE;
  add_added_token (tok, t);
}

/* What HF's BertWordPieceTokenizer builds from a vocab.txt. */
static gboolean
configure_from_vocab (AsTokenizer *tok, gboolean lowercase, GError **error)
{
  static const char *const specials[] = { "[UNK]", "[SEP]", "[CLS]", "[PAD]", "[MASK]" };
  int cls_id = vocab_lookup (tok, "[CLS]");
  int sep_id = vocab_lookup (tok, "[SEP]");

  set_bert_normalizer (tok, lowercase, NULL);
  tok->unk_token = g_strdup ("[UNK]");
  tok->subword_prefix = g_strdup ("##");
  for (gsize i = 0; i < G_N_ELEMENTS (specials); i++)
    add_special_if_known (tok, specials[i]);
  if (cls_id < 0 || sep_id < 0)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                 "%s: the vocabulary has no %s token (the BERT template is [CLS] A [SEP])",
                 tok->name, cls_id < 0 ? "[CLS]" : "[SEP]");
  set_bert_template (tok, "[CLS]", cls_id, "[SEP]", sep_id);
  return resolve_unknown_token (tok, error);
}

AsTokenizer *
as_tokenizer_new_from_vocab (const char *vocab_txt, gsize length, gboolean lowercase,
                             const char *display_name, GError **error)
{
  AsTokenizer *tok = tokenizer_alloc (display_name);

  if (!load_vocab_lines (tok, vocab_txt, length, error)
      || !configure_from_vocab (tok, lowercase, error))
    {
      as_tokenizer_free (tok);
      return NULL;
    }
  return tok;
}

/* Whether anything is at PATH, a dangling or looping link included: such a
 * link is a broken file to report, not a reason to fall back to another. */
static gboolean
path_present (const char *path)
{
  GStatBuf st;
  return g_lstat (path, &st) == 0;
}

/* tokenizer_config.json's do_lower_case, TRUE when absent. */
static gboolean
read_do_lower_case (const char *dir, gboolean *lowercase, GError **error)
{
  char *path = g_build_filename (dir, "tokenizer_config.json", NULL);
  JsonParser *parser = json_parser_new ();
  char *contents = NULL;
  gsize length = 0;
  gboolean ok = TRUE;

  *lowercase = TRUE;
  if (path_present (path))
    {
      ok = as_file_read_regular (path, AS_FILE_CAP_CONFIG, &contents, &length, error) &&
           as_json_guard_load (parser, contents, length, path, error);
      if (ok)
        {
          JsonNode *root = json_parser_get_root (parser);
          if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
            *lowercase = as_json_get_bool (json_node_get_object (root), "do_lower_case", TRUE);
        }
    }
  g_free (contents);
  g_object_unref (parser);
  g_free (path);
  return ok;
}

/* Both kinds of tokenizer file are refused by size before any parsing. */
static AsTokenizer *
load_file (const char *path, gboolean is_json, gboolean lowercase, GError **error)
{
  char *contents = NULL;
  gsize length = 0;
  AsTokenizer *tok;

  if (!as_file_read_regular (path, AS_FILE_CAP_TOKENIZER, &contents, &length, error))
    return NULL;
  tok = is_json ? as_tokenizer_new_from_json (contents, length, path, error)
                : as_tokenizer_new_from_vocab (contents, length, lowercase, path, error);
  g_free (contents);
  return tok;
}

AsTokenizer *
as_tokenizer_new_from_gguf (AsGguf *gguf, GError **error)
{
  AsBpe *bpe = as_bpe_new_from_gguf (gguf, error);

  if (bpe == NULL)
    return NULL;
  AsTokenizer *tok = tokenizer_alloc (as_gguf_get_path (gguf));
  tok->bpe = bpe;
  tok->bpe_bos = as_bpe_get_bos_id (bpe);
  tok->bpe_eos = as_bpe_get_eos_id (bpe);
  tok->bpe_add_bos = as_bpe_get_add_bos (bpe);
  return tok;
}

/* The id of special token NAME ("bos_token") of tokenizer_config.json's
 * object CONFIG, written as a string or as {"content": …}; -1 when absent
 * or not in the vocabulary. */
static int
bpe_special_id (AsTokenizer *tok, JsonObject *config, const char *name)
{
  const char *content = as_json_get_string (config, name, NULL);

  if (content == NULL)
    content = as_json_get_string (as_json_get_object (config, name), "content", NULL);
  return content != NULL ? as_bpe_token_to_id (tok->bpe, content) : -1;
}

/* A folder's BPE: its EOS, its BOS when the post-processor named none, and
 * add_bos_token when present, from tokenizer_config.json when the folder
 * has one. GPT-2's says <|endoftext|> for both and adds nothing. */
static gboolean
read_bpe_specials (AsTokenizer *tok, const char *dir, GError **error)
{
  char *path = g_build_filename (dir, "tokenizer_config.json", NULL);
  JsonParser *parser = json_parser_new ();
  char *contents = NULL;
  gsize length = 0;
  gboolean ok = TRUE;

  if (path_present (path))
    {
      ok = as_file_read_regular (path, AS_FILE_CAP_CONFIG, &contents, &length, error) &&
           as_json_guard_load (parser, contents, length, path, error);
      JsonNode *root = ok ? json_parser_get_root (parser) : NULL;
      if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
        {
          JsonObject *config = json_node_get_object (root);
          if (tok->bpe_bos < 0)
            tok->bpe_bos = bpe_special_id (tok, config, "bos_token");
          tok->bpe_eos = bpe_special_id (tok, config, "eos_token");
          tok->bpe_add_bos = as_json_get_bool (config, "add_bos_token", tok->bpe_add_bos);
        }
    }
  g_free (contents);
  g_object_unref (parser);
  g_free (path);
  return ok;
}

AsTokenizer *
as_tokenizer_new_from_dir (const char *dir, GError **error)
{
  char *json = g_build_filename (dir, "tokenizer.json", NULL);
  char *vocab = g_build_filename (dir, "vocab.txt", NULL);
  AsTokenizer *tok = NULL;
  gboolean lowercase;

  if (path_present (json))
    {
      tok = load_file (json, TRUE, TRUE, error);
      if (tok != NULL && tok->bpe != NULL && !read_bpe_specials (tok, dir, error))
        g_clear_pointer (&tok, as_tokenizer_free);
    }
  else if (!path_present (vocab))
    as_model_fail (error, AS_MODEL_ERROR_IO, "%s: has neither tokenizer.json nor vocab.txt", dir);
  else if (read_do_lower_case (dir, &lowercase, error))
    tok = load_file (vocab, FALSE, lowercase, error);
  g_free (json);
  g_free (vocab);
  return tok;
}
