#!/usr/bin/env python3
"""tools/make-corpus.py — regenerate data/corpus/ from documentation on this machine.

Collects English prose sentences from the README, NEWS, FAQ, TODO, *.txt and
*.md files under /usr/share/doc (gzip-compressed ones included), one sentence
per line, for `attnscope-cli stats`. Only the standard library is used.

    tools/make-corpus.py [--doc-root /usr/share/doc] [--count 1200] [--out data/corpus]

Writes OUT/doc-sentences.txt and OUT/sources.tsv (file, sentences taken). The
result depends on which Debian packages are installed; data/corpus/README.md
records the machine it was made on.
"""
import argparse
import gzip
import hashlib
import os
import re
import sys

NAME = re.compile(r"^(README|NEWS|FAQ|TODO)([._-].*)?$|\.(txt|md|markdown)(\.gz)?$", re.I)
SKIP_DIRS = ("examples", "test", "tests")
PER_FILE = 12           # at most this many sentences from one file, for variety
PER_PACKAGE = 100       # … and from one package (git alone ships 300 release notes)
MIN_WORDS, MAX_WORDS = 6, 40

# Sentence boundary: . ! ? (optionally closed by a quote or bracket), then space
# and an upper-case letter. Common abbreviations are protected first.
ABBREV = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|Dr|Mr|Mrs|Ms|No|Fig|approx|incl|resp)\.", re.I)
BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z\"'(])")
BULLET = re.compile(r"^\s*([-*+•]|\d+[.)]|[a-z][.)]|#+|>+)\s+")
CODEY = re.compile(r"[{}<>=$`|\\_~^]|://|@|\.\w{1,4}\b\S|--|\w\(\)|::|\bwww\.")
VERSION = re.compile(r"\d+\.\d+")


def read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(400_000)
    except OSError:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def paragraphs(text):
    """Blank-line separated blocks of prose, each joined into one line. Blocks
    that look like code, tables or headings (indented, ruled) are dropped."""
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        if any(ln.startswith(("    ", "\t", "```", "|", "+-", "==", "--", "..")) for ln in lines):
            continue
        joined = " ".join(BULLET.sub("", ln).strip() for ln in lines)
        yield re.sub(r"\s+", " ", joined)


def clean(sentence):
    s = sentence.strip()
    s = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", s)        # markdown emphasis
    s = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)     # markdown links
    s = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", s)     # reference links
    return s.strip()


def acceptable(s):
    words = s.split()
    if not (MIN_WORDS <= len(words) <= MAX_WORDS):
        return False
    if not s[0].isupper() or s[-1] not in ".!?":
        return False
    if not s.isascii() or CODEY.search(s) or VERSION.search(s):
        return False
    letters = sum(c.isalpha() for c in s)
    if letters < 0.75 * len(s.replace(" ", "")):
        return False
    # mostly lower-case prose words, not a title or a list of names
    lower = sum(1 for w in words if w[:1].islower())
    if lower < 0.6 * len(words):
        return False
    if any(len(w) > 25 for w in words):
        return False
    return True


def sentences(text):
    for para in paragraphs(text):
        protected = ABBREV.sub(lambda m: m.group(0).replace(".", "\u2024"), para)
        for piece in BOUNDARY.split(protected):
            s = clean(piece.replace("\u2024", "."))
            if s and acceptable(s):
                yield s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--doc-root", default="/usr/share/doc")
    ap.add_argument("--count", type=int, default=1200)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "corpus"))
    args = ap.parse_args()

    files = []
    for root, dirs, names in os.walk(args.doc_root):
        dirs[:] = sorted(d for d in dirs if d.lower() not in SKIP_DIRS)
        for name in sorted(names):
            path = os.path.join(root, name)
            if NAME.search(name) and os.path.isfile(path) and not os.path.islink(path):
                files.append(path)
    files.sort()

    # Take up to PER_FILE sentences from each file, round-robin over the files in
    # a fixed pseudo-random order (hash of the path), so no package dominates.
    per_file = {}
    for path in files:
        text = read_text(path)
        if text is None:
            continue
        got = []
        for s in sentences(text):
            got.append(s)
            if len(got) >= PER_FILE:
                break
        if got:
            per_file[path] = got
    order = sorted(per_file, key=lambda p: hashlib.sha256(p.encode()).hexdigest())

    seen, out, taken, per_package = set(), [], {}, {}
    for rank in range(PER_FILE):
        for path in order:
            got = per_file[path]
            package = os.path.relpath(path, args.doc_root).split(os.sep)[0]
            if rank < len(got) and len(out) < args.count and per_package.get(package, 0) < PER_PACKAGE:
                key = got[rank].lower()
                if key not in seen:
                    seen.add(key)
                    out.append(got[rank])
                    taken[path] = taken.get(path, 0) + 1
                    per_package[package] = per_package.get(package, 0) + 1
    if len(out) < args.count:
        print(f"make-corpus: only {len(out)} sentences found (wanted {args.count})", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "doc-sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    with open(os.path.join(args.out, "sources.tsv"), "w", encoding="utf-8") as f:
        f.write("file\tsentences\n")
        for path in sorted(taken):
            f.write(f"{os.path.relpath(path, args.doc_root)}\t{taken[path]}\n")
    size = os.path.getsize(os.path.join(args.out, "doc-sentences.txt"))
    print(f"make-corpus: {len(out)} sentences from {len(taken)} files, {size} bytes", file=sys.stderr)
    return 0 if len(out) >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
