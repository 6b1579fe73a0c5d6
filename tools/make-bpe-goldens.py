#!/usr/bin/env python3
"""BPE golden fixture for tests/test-bpe.c (model/as-bpe.c).

The reference is what transformers builds from the SmolLM2 GGUF's metadata:
AutoTokenizer.from_pretrained(dir, gguf_file=name). transformers 5.25 makes a
GPT2Tokenizer of it (integrations/gguf/gguf_tokenizer_mapping.py:
byte_level_tokenizer): BPE with the file's merges, pre-tokenizer
ByteLevel(add_prefix_space=False, use_regex=True) -- the GPT-2 regex alone,
since "smollm" is not in its GGUF_PRE_TOKENIZER_SPLITS -- and the tokens of
type CONTROL (3) added as special tokens, matched whole in the raw text.

Inputs:
  * every line of tests/data/token-corpus.txt (the WordPiece corpus: German,
    French, Russian, Greek, Arabic, Hebrew, Hindi, Thai, Chinese, Japanese,
    Korean ... see tools/goldens_tokens.py), stored by line number, ids only;
  * hand-written cases (emoji with ZWJ and skin tones, CJK, RTL, combining
    marks, Devanagari, code with tabs and newlines, whitespace runs, digit
    runs, contractions, special tokens inside text, ChatML ...), stored with
    their text, ids and token strings (convert_ids_to_tokens).
  * "classes": the code points that the tokenizers crate's regex engine puts in
    \\p{L}, \\p{N} and \\s, as [lo, hi] ranges (surrogates excepted), so the
    test can check the C character classes against it.
  * "llama3": the same vocabulary and merges with Llama-3's pre-tokenizer
    (Split(transformers' _LLAMA3_SPLIT, isolated) + ByteLevel(use_regex=False),
    what transformers builds for a GGUF with tokenizer.ggml.pre "llama-bpe"):
    its pre_tokenizer JSON, every fourth corpus line's ids and every case's.
  Corpus ids are packed: 3 characters of "id_alphabet" per id, big-endian.

Output: tests/data/bpe/smollm2-goldens.json
Usage:  ~/.cache/attnscope/bench-venv/bin/python tools/make-bpe-goldens.py
        (needs transformers, tokenizers and gguf in that venv)
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(REPO, "data", "models", "SmolLM2-135M-Instruct")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CORPUS = os.path.join(REPO, "tests", "data", "token-corpus.txt")
OUT = os.path.join(REPO, "tests", "data", "bpe", "smollm2-goldens.json")

CASES = [
    "",
    " ",
    "Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure it's what they've said, we'll see; you'd think I'd've known. She's, they're",
    "DON'T SHOUT'S 'S 'quoted' ''s",
    "MiXeD CaSe iPhone McDonald's XMLHttpRequest camelCaseName snake_case_name",
    "1234567890 3.14159 1,000,000 2024-05-17 v1.2.3 0x1F 1e-5 +42 -7 10%",
    "a1b2c3 123abc abc123 ١٢٣ ٤٥٦ १२३ 一二三 ½ ² Ⅻ",
    "x     y\t\tz\n\n\nw   \n  end   ",
    "    leading spaces",
    "trailing spaces    ",
    "\t\ttabs\tand\ttabs\t",
    "line one\nline two\r\nline three\rline four",
    "\n",
    "\n\n\n\n",
    "                                                                ",
    "def f(x):\n\treturn x * 2  # comment\n\nif __name__ == '__main__':\n    print(f(21))\n",
    "int main (void) {\n  for (int i = 0; i < 10; i++) {\n    printf(\"%d\\n\", i);\n  }\n}\n",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "emoji: 😀 😃 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇩🇪 🇯🇵 🤷🏾‍♀️",
    "👩🏻‍💻👨🏿‍🚀🧑🏽‍🔬",
    "中文字符测试：你好，世界！这是一个测试。",
    "日本語のテキスト、カタカナとひらがな。東京タワー",
    "한국어 텍스트입니다. 안녕하세요!",
    "العربية: مرحبا بالعالم! كيف حالك؟",
    "עברית: שלום עולם, מה שלומך?",
    "mixed RTL: hello שלום world مرحبا 123",
    "combining: e\u0301 a\u0308 o\u0302\u0323 n\u0303 Z\u0335\u0321\u031b",
    "café naïve Müller İstanbul ß ẞ ǅ",
    "हिन्दी पाठ: नमस्ते दुनिया। क्षत्रिय",
    "ภาษาไทย สวัสดีครับ",
    "Ελληνικά: Γειά σου Κόσμε",
    "Русский текст: Привет, мир!",
    "zero\u200bwidth\u200cjoiner\u200dnb\u00a0sp\u2028ls\u2029ps\u3000ideo\u2003em",
    "control \x01\x02\x7f\x1b[0m chars",
    "bytes without a token, dropped: a\x04b\x06c\x13d\x14e\x16f\x1dg",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ １２３",
    "math: ∀x∈ℝ, ∑ᵢ xᵢ² ≤ ∞ → ∂f/∂x ≠ √2",
    "<|endoftext|>",
    "<|im_start|>",
    "text<|im_end|>more",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "before <|endoftext|> after <|endoftext|><|endoftext|>",
    "<|im_start <|im_start|| |im_start|> < |im_start|>",
    "<repo_name>attnscope<file_sep>model/as-bpe.c<filename>x<gh_stars>10",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "unknown special <|im_middle|> <|unknown|>",
    "Ġ Ċ ĉ ĠĠ Ã© âĢĻ",
    "a" * 300,
    "ab" * 150,
    "1" * 100,
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "... --- ~~~ === *** /// \\\\\\ ''' \"\"\"",
    "https://example.com/path?query=1&b=2#frag user@example.org",
    "   'll 're ' s's",
    "end with apostrophe'",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "\U0001F600\U0001F4A9\U00010348\U0001D11E\U000E0041",
    "\ufeffBOM at start",
    "replacement \ufffd char",
    "LLAMA 'S 'RE 'Ve 'LL 'D 'M 'T 'ſ 'ſt it'S",
    "12345678 1234567 123 12 1",
    "\n\n  hello \n\tx a\r\n\r\nb !!!\n\n?? \r\n  \n",
    "\thello  \u00a0world\u3000x \u2028y",
    "(foo)\n\n\nbar;\r\n}\n",
]


# Corpus ids are packed three characters an id (big-endian, base 64, in this
# alphabet), which keeps the fixture under 200 KB.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


def pack(ids):
    out = []
    for i in ids:
        assert 0 <= i < 64 ** 3
        out.append(ALPHABET[i >> 12] + ALPHABET[(i >> 6) & 63] + ALPHABET[i & 63])
    return "".join(out)


def ranges_of(flags):
    out = []
    lo = None
    for cp in range(0x110000 + 1):
        on = cp <= 0x10FFFF and flags[cp]
        if on and lo is None:
            lo = cp
        elif not on and lo is not None:
            out.append([lo, cp - 1])
            lo = None
    return out


def probe_classes():
    """Which code points the crate's regex engine puts in each class."""
    from tokenizers import Regex, pre_tokenizers

    result = {}
    for name, pattern in (("L", r"\p{L}"), ("N", r"\p{N}"), ("S", r"\s")):
        split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
        flags = bytearray(0x110000)
        chunk = 0x4000
        for base in range(0, 0x110000, chunk):
            cps = [cp for cp in range(base, base + chunk) if not 0xD800 <= cp <= 0xDFFF]
            text = "".join(chr(cp) for cp in cps)
            kept = bytearray(len(cps))
            for _, (s, e) in split.pre_tokenize_str(text):
                for i in range(s, e):
                    kept[i] = 1
            for i, cp in enumerate(cps):
                if not kept[i]:
                    flags[cp] = 1
        result[name] = ranges_of(flags)
    return result


def main():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    backend = tok.backend_tokenizer
    config = json.loads(backend.to_str())
    pre = config["pre_tokenizer"]
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex") or pre.get("add_prefix_space"):
        sys.exit("unexpected pre-tokenizer %r: update as-bpe.c and this script" % pre)

    def encode(text):
        return backend.encode(text, add_special_tokens=False).ids

    with open(CORPUS, encoding="utf-8") as f:
        corpus = f.read().split("\n")
    if corpus and corpus[-1] == "":
        corpus.pop()

    # Does llama.cpp's "smollm" splitting (digits one by one before the
    # GPT-2 regex, as SmolLM2's own tokenizer.json does) ever differ here?
    from tokenizers import Tokenizer, pre_tokenizers
    digits = Tokenizer.from_str(backend.to_str())
    digits.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    differing = [t for t in corpus + CASES
                 if digits.encode(t, add_special_tokens=False).ids != encode(t)]
    differ = len(differing)
    print("inputs where Digits+ByteLevel differs from ByteLevel: %d %r" % (differ, differing))

    out = {
        "reference": "transformers AutoTokenizer.from_pretrained(gguf_file=%s)" % GGUF_NAME,
        "versions": {"transformers": __import__("transformers").__version__,
                     "tokenizers": __import__("tokenizers").__version__},
        "pre_tokenizer": pre,
        "vocab_size": backend.get_vocab_size(with_added_tokens=True),
        "digits_byte_level_differs": differ,
        "id_alphabet": ALPHABET,
        "corpus_ids": [pack(encode(line)) for line in corpus],
        "cases": [],
        "classes": probe_classes(),
    }
    from tokenizers import Regex
    from transformers.integrations.gguf.gguf_tokenizer_mapping import _LLAMA3_SPLIT
    llama3 = Tokenizer.from_str(backend.to_str())
    llama3.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    out["llama3"] = {
        "pre_tokenizer": json.loads(llama3.to_str())["pre_tokenizer"],
        "corpus_every": 4,
        "corpus_ids": [pack(llama3.encode(line, add_special_tokens=False).ids)
                       for line in corpus[::4]],
        "case_ids": [llama3.encode(t, add_special_tokens=False).ids for t in CASES],
    }
    for text in CASES:
        ids = encode(text)
        out["cases"].append({"text": text, "ids": ids,
                             "tokens": tok.convert_ids_to_tokens(ids),
                             "decoded": backend.decode(ids, skip_special_tokens=False)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%s: %d corpus lines, %d cases, %d bytes"
          % (OUT, len(corpus), len(CASES), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
