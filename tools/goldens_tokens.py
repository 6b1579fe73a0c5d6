#!/usr/bin/env python3
"""Token golden fixtures for tests/test-tokenizer.c.

The reference is the Hugging Face `tokenizers` package (the Rust crate behind
it): we load the default model's tokenizer.json, switch its truncation and
padding off (the file asks for 128; AttnScope truncates only at the length the
caller passes) and record what it gives for

  * every line of the committed corpus (tests/data/token-corpus.txt): real
    text gathered from this machine's translations (.mo catalogs), manual
    pages in other languages and package documentation, several scripts;
  * the tokenizer's edge cases (accents, dotted capital I, CJK,
    emoji, zero-width and control characters, long words, literal special
    tokens, empty input ...);
  * about fifty sentence pairs;
  * a few truncated encodings (a "max_length" field; HF's longest_first).

Output: one JSON object per line,
  {"a": text, "b": text-or-null, "ids": [...], "type_ids": [...],
   "offsets": [[s, e], ...]}               (character offsets, as HF gives)
plus "max_length", "truncated" and "n_dropped" on the truncation cases, and
"cased": true on a few lines encoded by a tokenizer built from vocab.txt with
lowercase off (HF's BertWordPieceTokenizer), for the vocab.txt fallback.

Variants of the tokenizer (other normalizer flags, added tokens with lstrip /
rstrip / single_word / normalized, BertProcessing, no normalizer and no
post-processor) come as {"variant": name, "tokenizer_json": text} followed by
lines like the above with "variant": name.

Two more kinds of line sweep every code point (surrogates excepted):
  {"normalize": [entry, ...]}   what the model's BertNormalizer makes of each
      character alone, for the characters it changes: ["D", lo, hi] dropped,
      ["S", lo, hi] turned into a space, ["C", lo, hi] surrounded by spaces
      (CJK), ["M", cp, "text"] mapped to TEXT. Characters not listed are kept.
  {"isolate": [[lo, hi, class], ...]}   how "a" + c + "a" is split:
      class "P": three tokens a / c / a (c is punctuation to BertPreTokenizer),
      "W": two tokens a / a (c is whitespace). Other characters are not listed.

The corpus file is the fixture's source of truth: when it exists it is reused,
so regenerating the goldens elsewhere gives the same inputs. Pass
--rebuild-corpus to gather it again from this machine.

Usage: goldens_tokens.py [OUT_DIR] [--rebuild-corpus]   (OUT_DIR: tests/data)
       goldens_tokens.py --c-tables   (prints the character tables of
       model/as-tokenizer.c, probed from the installed tokenizers package)
Needs: pip install tokenizers (in a venv outside the repository).
"""

import glob
import gettext
import gzip
import json
import os
import random
import re
import sys
import unicodedata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(REPO, "data", "models", "all-MiniLM-L6-v2")
CORPUS_NAME = "token-corpus.txt"
GOLDEN_NAME = "token-goldens.jsonl"

MAX_LINE_CHARS = 160     # keeps the fixture small while lines stay realistic
SEED = 20240517          # corpus sampling is deterministic on a given machine

# Characters that Python's str.splitlines() treats as line breaks: a corpus
# line must not contain them, or the file would not round-trip line by line.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# Translation catalogs: languages chosen to cover many scripts (Latin with
# accents, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Bengali, Tamil, Thai,
# Georgian, Armenian, Ethiopic, Khmer, Han, Kana, Hangul ...).
MO_LANGUAGES = {
    "de": 45, "fr": 45, "es": 40, "pt_BR": 30, "it": 30, "pl": 35, "cs": 35,
    "sk": 20, "hu": 30, "ro": 25, "tr": 35, "vi": 40, "da": 20, "sv": 20,
    "fi": 25, "nl": 20, "is": 20, "lt": 25, "lv": 25, "et": 20, "hr": 20,
    "sl": 20, "eo": 20, "ca": 20, "ga": 15, "cy": 15, "az": 15,
    "ru": 50, "uk": 45, "be": 25, "bg": 30, "sr": 30, "mk": 15, "kk": 20,
    "el": 50, "ar": 45, "fa": 30, "he": 45, "ur": 15, "ug": 15,
    "hi": 35, "mr": 15, "ne": 15, "bn": 25, "pa": 15, "gu": 15, "ta": 25,
    "te": 15, "kn": 15, "ml": 15, "si": 15, "or": 15,
    "th": 35, "km": 20, "lo": 10, "my": 15,
    "ka": 25, "hy": 20, "am": 20, "ti": 10,
    "zh_CN": 60, "zh_TW": 50, "zh_HK": 15, "ja": 60, "ko": 50,
}
MAN_LANGUAGES = {
    "de": 25, "fr": 25, "ja": 30, "ko": 20, "ru": 25, "uk": 20, "zh_CN": 25,
    "zh_TW": 15, "pl": 20, "tr": 15, "pt_BR": 15, "cs": 15,
}
DOC_LINES = 250


# ----------------------------------------------------------------- corpus --

def usable(line):
    """A corpus line: trimmed, some letters in it, no line-break characters."""
    if any(c in LINE_BREAKS for c in line):
        return False
    if len(line) < 4:
        return False
    return sum(c.isalpha() for c in line) >= 3


def trim(line):
    """Cut to MAX_LINE_CHARS, at a space when there is one near the end."""
    line = " ".join(line.split())
    if len(line) <= MAX_LINE_CHARS:
        return line
    cut = line.rfind(" ", MAX_LINE_CHARS // 2, MAX_LINE_CHARS)
    return line[: cut if cut > 0 else MAX_LINE_CHARS]


def mo_lines(lang):
    lines = []
    pattern = "/usr/share/locale/%s/LC_MESSAGES/*.mo" % lang
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception:  # a catalog we cannot parse is simply skipped
            continue
        for key, value in catalog.items():
            if not key or not isinstance(value, str):
                continue  # the header entry
            lines.extend(value.split("\n"))
    return lines


ROFF_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\\(.."), ""),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\."), ""),
]


def roff_text(line):
    for pattern, replacement in ROFF_ESCAPES:
        line = pattern.sub(replacement, line)
    return line


def man_lines(lang):
    lines = []
    for path in sorted(glob.glob("/usr/share/man/%s/man*/*.gz" % lang)):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.split("\n"):
            if line.startswith((".", "'")):
                continue
            lines.append(roff_text(line))
    return lines


def doc_lines():
    lines = []
    paths = sorted(glob.glob("/usr/share/doc/*/changelog*.gz")
                   + glob.glob("/usr/share/doc/*/NEWS*.gz")
                   + glob.glob("/usr/share/doc/*/README*"))
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                lines.extend(f.read().split("\n"))
        except (OSError, UnicodeDecodeError):
            continue
    return lines


def sample(rng, lines, count, seen):
    """COUNT distinct usable lines, none already in SEEN."""
    candidates = sorted({trim(l) for l in lines if usable(trim(l))} - seen)
    chosen = rng.sample(candidates, min(count, len(candidates)))
    seen.update(chosen)
    return chosen


def gather_corpus():
    rng = random.Random(SEED)
    seen = set()
    corpus = []
    for lang, count in MO_LANGUAGES.items():
        corpus += sample(rng, mo_lines(lang), count, seen)
    for lang, count in MAN_LANGUAGES.items():
        corpus += sample(rng, man_lines(lang), count, seen)
    corpus += sample(rng, doc_lines(), DOC_LINES, seen)
    return corpus


def read_corpus(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [l for l in f.read().split("\n") if l]


def write_corpus(path, corpus):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for line in corpus:
            f.write(line + "\n")


# ------------------------------------------------------------- edge cases --

LONG_WORD = "a" * 101


def edge_cases():
    # No U+0000: the C API takes NUL-terminated strings.
    return [
        "", " ", "   \t\n  ", "\n", "\t", "\r\n",
        "café", "Café naïve Müller", "CAFÉ NAÏVE MÜLLER", "cafe\u0301",
        "e\u0301\u0301\u0301", "\u0301abc", "a\u0308\u0323b",
        "İstanbul", "İ", "i\u0307", "DİYARBAKIR ışık", "ΣΊΣΥΦΟΣ σίσυφος",
        "Straße STRASSE ß ẞ", "ﬁne ﬂow", "Ǆemal ǅemal ǆemal",
        "Ⅻ Ⅷ ⓐⒷⓒ", "ℌ ℍ ℎ Å K",
        "北京是中国的首都。", "東京と大阪", "서울특별시", "日本語のテキスト、カタカナ。",
        "𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽", "中文English混合123",
        "emoji 😀 test 👍🏽 ok", "👩\u200d👩\u200d👧\u200d👦 family",
        "🏳️\u200d🌈 flag 🇩🇪🇫🇷", "♥ ☃ ✈ ❤️",
        "zero\u200bwidth\u200cjoin\u200dx", "soft\u00adhyphen", "bom\ufeffin",
        "word\u2060joiner", "rtl\u200fmark\u200e",
        "ctrl\x01\x02\x03chars\x7f\x80\x9f", "bell\x07 esc\x1b[0m",
        "vt\x0bff\x0cfs\x1cgs\x1d", "next\x85line",
        "line\u2028sep\u2029para", "nbsp\u00a0thin\u2009ideo\u3000space",
        "ogham\u1680space narrow\u202fnbsp math\u205fspace",
        "mongolian\u180evowel", "replacement\ufffdchar",
        "private\ue000use\U000f0000", "noncharacter\ufffe\uffff",
        "unassigned\u0378\U000e0080", "tag\U000e0041\U000e0042chars",
        "$^~", "$5.00 ^_^ ~user `tick` |pipe|", "a.b,c;d:e!f?g",
        "«quoted» „deutsch“ ‘single’ “double”", "—dash– ‐hyphen‑ ⁓",
        "¿Qué? ¡Sí!", "中文，标点。「引号」", "1,234.56 3.14e-10",
        "hello...world!!!", "@user #tag http://example.com/a?b=c&d=e",
        LONG_WORD, "a" * 100, "x " + LONG_WORD + " y",
        "é" * 101, "é" * 100,
        "supercalifragilisticexpialidocious",
        "antidisestablishmentarianism",
        "unbelievable\u0e01able",  # a middle piece no vocabulary entry covers
        "xyz\u2603abc",
        "qwertyuiopasdfghjklzxcvbnm",
        "the [MASK] sat on the mat", "[MASK]", "[MASK][MASK]",
        "a[MASK]b", "first [SEP] second", "[CLS] already [SEP]",
        "[mask] lowercase", "[ MASK ]", "[UNK] and [PAD]",
        "[MASK\u0301]", "x[SEP]y[MASK]", "[[MASK]]",
        "tabs\tand\nnewlines\r\nmixed", "  leading and trailing  ",
        "ＦＵＬＬ　ｗｉｄｔｈ　１２３！", "ｶﾀｶﾅ ﾊﾝｶｸ",
        "Ａｂｃ，ｄｅｆ．", "㈱ ㍿ ℡ №",
        "ﷺ ﷽", "Ω Ω K Å",
        "x\u0300\u0316\u0301y", "ṩ ḉ ǖ",
        "Ελληνικά: Αθήνα", "Русский текст: Ёлка, йогурт",
        "العربية: مَرْحَبًا", "עִבְרִית: שָׁלוֹם",
        "हिन्दी: नमस्ते", "ภาษาไทย: สวัสดี", "ქართული", "Հայերեն",
        "አማርኛ", "ᏣᎳᎩ", "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕓𝕠𝕝𝕕",
        "Ꭰ ꭰ", "ꞵ Ꞵ", "ᲀ ᲁ", "ꟊ Ꟊ",
        "123abc456", "3.14159", "don't won't y'all",
        "C++ C# F# .NET", "e-mail re-enter co-op",
        "ALLCAPS MiXeD cAsE", "a\tb\tc",
        "\u3000\u3000", "\u200b", "\u200b\u200b \u200b",
        "\x01\x02\x03", "\ufffd\ufffd",
    ]


def edge_pairs():
    return [
        ("", ""), ("", "b"), ("a", ""), (" ", "\t"),
        ("The cat sat.", "On the mat."),
        ("[MASK] is here", "and [SEP] there"),
        ("café", "CAFÉ"), ("北京", "東京"), ("😀", "👍🏽"),
        ("İ", "ı"), (LONG_WORD, "short"),
    ]


def corpus_pairs(corpus, count=40):
    """Deterministic pairs of corpus lines (A from the front, B from the back)."""
    step = max(1, len(corpus) // count)
    return [(corpus[i * step], corpus[-1 - i * step]) for i in range(count)]


def truncation_cases(corpus):
    long_a = " ".join(corpus[:12])
    long_b = " ".join(corpus[12:20])
    mid = "the quick brown fox jumps over the lazy dog " * 3
    return [
        (long_a, None, 16), (long_a, None, 3), (long_a, None, 4),
        (long_a, None, 512), (mid, None, 10), (mid, None, 1000),
        (long_a, long_b, 16), (long_a, long_b, 17), (long_b, long_a, 17),
        (mid, mid, 20), (mid, mid, 21), (mid, "short one", 12),
        ("short one", mid, 12), ("a b c", "d e f g h", 8),
        ("a b c d e f g h", "x y", 8), ("a b c d", "w x y z", 7),
        ("one", "two", 5), (long_a, long_b, 512), (long_a, long_b, 64),
        ("北京是中国的首都", "東京と大阪と京都", 11), ("é" * 20, "ü " * 20, 9),
    ]


# ---------------------------------------------------------------- goldens --

def load_tokenizer():
    from tokenizers import Tokenizer  # imported late: only this step needs it

    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def record(tok, a, b=None):
    enc = tok.encode(a, b) if b is not None else tok.encode(a)
    return {"a": a, "b": b, "ids": enc.ids, "type_ids": enc.type_ids,
            "offsets": [list(o) for o in enc.offsets]}


def truncated_record(tok, a, b, max_length):
    full = len(record(tok, a, b)["ids"])
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    try:
        rec = record(tok, a, b)
    finally:
        tok.no_truncation()
    rec["max_length"] = max_length
    rec["truncated"] = len(rec["ids"]) < full
    rec["n_dropped"] = full - len(rec["ids"])
    return rec


CASED_LINES = 150


def cased_records(corpus):
    """The vocab.txt fallback with lowercase off, as HF builds it."""
    from tokenizers.implementations import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(os.path.join(MODEL_DIR, "vocab.txt"), lowercase=False)
    lines = corpus[:: max(1, len(corpus) // CASED_LINES)][:CASED_LINES]
    lines += ["Café NAÏVE İ Straße", "the [MASK] sat", "ΣΊΣΥΦΟΣ", "北京 Ⅻ"]
    records = []
    for line in lines:
        rec = record(tok, line)
        rec["cased"] = True
        records.append(rec)
    return records


# --------------------------------------------------------------- variants --

VARIANT_VOCAB_SIZE = 3000   # the model's first ids: specials, characters, common words

VARIANT_TEXTS = [
    "a [MASK] b", "a  [MASK]  b", "[MASK]", "x[MASK]y", "x<x>y", "x <x> y", "<x>",
    "<x><x> <x>", "Café au lait", "CAFÉ crème", "cafe\u0301", "the end is near",
    "THE END", "The End", "Ünïcödé naïve", "北京 and 東京", "tab\there\nnewline",
    "İstanbul ΣΊΣΥΦΟΣ", "Ⅻ ⓐ", "supercalifragilistic expialidocious",
    "ctrl\x01char\x7f", "zero\u200bwidth", "emoji 😀 here", "", "   ",
    "well,this;is:punctuation!", "about [SEP] time", "le café [MASK] the end",
]


def variant_tokenizer(name, model_json):
    """The default tokenizer.json with other settings and a smaller vocab."""
    config = json.loads(model_json)
    vocab = config["model"]["vocab"]
    config["model"]["vocab"] = {t: i for t, i in vocab.items() if i < VARIANT_VOCAB_SIZE}
    config["truncation"] = None
    config["padding"] = None
    added = config["added_tokens"]
    if name == "flags":
        config["normalizer"] = {"type": "BertNormalizer", "clean_text": False,
                                "handle_chinese_chars": False, "strip_accents": True,
                                "lowercase": False}
        config["model"]["max_input_chars_per_word"] = 10
        for t in added:
            if t["content"] == "[MASK]":
                t.update(lstrip=True, rstrip=True)
        added += [
            {"id": 3000, "content": "<x>", "single_word": True, "lstrip": False,
             "rstrip": False, "normalized": False, "special": False},
            {"id": 3001, "content": "the end", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": True, "special": False},
            {"id": 3002, "content": "Café", "single_word": False, "lstrip": False,
             "rstrip": True, "normalized": True, "special": False},
        ]
    elif name == "bert-processing":
        config["normalizer"]["strip_accents"] = False
        config["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 102],
                                    "cls": ["[CLS]", 101]}
    elif name == "bare":
        config["normalizer"] = None
        config["post_processor"] = None
    return json.dumps(config, ensure_ascii=False)


def variant_records():
    from tokenizers import Tokenizer

    with open(os.path.join(MODEL_DIR, "tokenizer.json"), encoding="utf-8") as f:
        model_json = f.read()
    records = []
    for name in ("flags", "bert-processing", "bare"):
        config = variant_tokenizer(name, model_json)
        tok = Tokenizer.from_str(config)
        records.append({"variant": name, "tokenizer_json": config})
        pairs = [(t, None) for t in VARIANT_TEXTS] + list(zip(VARIANT_TEXTS[::2], VARIANT_TEXTS[1::2]))
        for a, b in pairs:
            rec = record(tok, a, b)
            rec["variant"] = name
            records.append(rec)
    return records


# ----------------------------------------------------------------- sweeps --

def all_code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def add_run(entries, kind, cp):
    """Extends the last [kind, lo, hi] entry when CP follows it."""
    if entries and entries[-1][0] == kind and entries[-1][2] == cp - 1:
        entries[-1][2] = cp
    else:
        entries.append([kind, cp, cp])


def normalize_entries(normalizer):
    entries = []
    for cp in all_code_points():
        c = chr(cp)
        out = normalizer.normalize_str(c)
        if out == c:
            continue
        if out == "":
            add_run(entries, "D", cp)
        elif out == " ":
            add_run(entries, "S", cp)
        elif out == " " + c + " ":
            add_run(entries, "C", cp)
        else:
            entries.append(["M", cp, out])
    return entries


def isolate_entries(tok):
    a_id = tok.token_to_id("a")
    runs = []
    for cp in all_code_points():
        enc = tok.encode("a" + chr(cp) + "a", add_special_tokens=False)
        kind = None
        if enc.ids == [a_id, a_id] and enc.offsets[1] == (2, 3):
            kind = "W"
        elif (len(enc.ids) == 3 and enc.ids[0] == a_id and enc.ids[2] == a_id
              and enc.offsets[1] == (1, 2)):
            kind = "P"
        if kind:
            if runs and runs[-1][2] == kind and runs[-1][1] == cp - 1:
                runs[-1][1] = cp
            else:
                runs.append([cp, cp, kind])
    return runs


def chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def sweep_records(tok):
    records = [{"normalize": c} for c in chunks(normalize_entries(tok.normalizer), 400)]
    records += [{"isolate": c} for c in chunks(isolate_entries(tok), 400)]
    return records


# -------------------------------------------------------------- C tables --

def probe_ranges(pred):
    ranges = []
    for cp in all_code_points():
        if pred(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return ranges


def c_table(name, ranges):
    items = ["{0x%04X, 0x%04X}" % (lo, hi) for lo, hi in ranges]
    lines = ["  " + ", ".join(items[i:i + 4]) + "," for i in range(0, len(items), 4)]
    return "static const CodeRange %s[] = {\n%s\n};\n" % (name, "\n".join(lines))


def print_c_tables():
    """The character classes of the unicode_categories crate, as tokenizers
    uses them, found by asking tokenizers itself about every code point."""
    from tokenizers import normalizers, pre_tokenizers

    bert = normalizers.BertNormalizer
    clean = bert(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = bert(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    split = pre_tokenizers.BertPreTokenizer()
    print(c_table("dropped_by_clean_text",
                  probe_ranges(lambda c: c not in "\0\ufffd" and clean.normalize_str(c) == "")))
    print(c_table("unicode_punctuation",
                  probe_ranges(lambda c: ord(c) >= 0x80 and len(split.pre_tokenize_str("a" + c + "a")) == 3)))
    print(c_table("nonspacing_marks", probe_ranges(lambda c: strip.normalize_str(c) == "")))


def script_of(char):
    """First word of the Unicode name of a letter: LATIN, CYRILLIC, CJK ..."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else None


def script_summary(lines):
    counts = {}
    for line in lines:
        for script in {script_of(c) for c in line} - {None}:
            counts[script] = counts.get(script, 0) + 1
    return counts


def main(out_dir="tests/data", rebuild_corpus=False):
    os.makedirs(out_dir, exist_ok=True)
    corpus_path = os.path.join(out_dir, CORPUS_NAME)
    if rebuild_corpus or not os.path.exists(corpus_path):
        write_corpus(corpus_path, gather_corpus())
    corpus = read_corpus(corpus_path)

    tok = load_tokenizer()
    records = [record(tok, line) for line in corpus]
    records += [record(tok, text) for text in edge_cases()]
    records += [record(tok, a, b) for a, b in edge_pairs() + corpus_pairs(corpus)]
    records += [truncated_record(tok, a, b, n) for a, b, n in truncation_cases(corpus)]
    records += cased_records(corpus)
    records += variant_records()
    records += sweep_records(tok)

    golden_path = os.path.join(out_dir, GOLDEN_NAME)
    with open(golden_path, "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")

    scripts = script_summary(corpus)
    print("%s: %d lines (%d corpus lines; %d scripts with >= 5 lines: %s)" % (
        golden_path, len(records), len(corpus),
        sum(1 for n in scripts.values() if n >= 5),
        ", ".join("%s %d" % kv for kv in sorted(scripts.items(), key=lambda kv: -kv[1]))))
    return 0


if __name__ == "__main__":
    if "--c-tables" in sys.argv[1:]:
        print_c_tables()
        sys.exit(0)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.exit(main(args[0] if args else "tests/data",
                  rebuild_corpus="--rebuild-corpus" in sys.argv[1:]))
