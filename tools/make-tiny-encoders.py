#!/usr/bin/env python3
"""Golden fixtures for the BERT-family encoders RoBERTa and DistilBERT
(tests/test-encoder-family.c) and for BERT's masked-LM head
(tests/test-mlm.c, tests/test-cli-fill.sh, tests/test-gui-mlm.c).

Run by a developer, never by CI (CI compares against the committed files):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-tiny-encoders.py [FOLDER …]

Builds tiny seeded models with transformers and saves each as a model
folder (config.json, model.safetensors, tokenizer files); FOLDER names the
ones to build (all of them when none is named):

  tests/data/roberta-tiny/     RobertaModel (no pooler), 2 layers, 4 heads,
                               hidden 32, max_position_embeddings 64 with
                               pad_token_id 1 (so 62 usable positions), and
                               a byte-level BPE of about 400 tokens trained
                               with `tokenizers`, saved as RobertaTokenizerFast
                               (tokenizer.json with RobertaProcessing)
  tests/data/distilbert-tiny/  DistilBertModel, the same sizes, and a
                               WordPiece vocabulary of a few hundred words
  tests/data/bert-mlm-tiny/    BertForMaskedLM, the same sizes, its decoder
                               tied to the word embeddings (saved without
                               cls.predictions.decoder.weight, its bias as
                               cls.predictions.bias), the WordPiece
                               vocabulary with a few more words

Weights are drawn wider than transformers' std-0.02 initialisation (and the
LayerNorms are not left at 1 and 0) so that attention is peaked and every
tensor matters. Each case runs in eager mode, fp32, on the CPU:

  goldens/cases.json   per case: name, text_a, text_b (or null), ids,
                       type_ids, n, offsets (character spans within each
                       token's own text, [0, 0] for special tokens); the
                       shapes and library versions
  goldens/NAME-attn.f32    [layers, heads, n, n] attention, float32 LE
  goldens/NAME-hidden.f32  [layers, n, hidden] each layer's output (the last
                           is last_hidden_state), float32 LE

RoBERTa also gets a case "max" of random (non-pad) ids at the longest input
its position table allows, with its hidden states only.

bert-mlm-tiny/mlm-goldens.json holds, for each sentence of MLM_CASES, its
ids and, at each [MASK], the logits row (BertForMaskedLM's output) and its
top 10 ids and softmax probabilities (in double).
"""
import json
import os

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import (Tokenizer, decoders, models, normalizers, pre_tokenizers, processors,
                        trainers)
from transformers import (BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertModel,
                          PreTrainedTokenizerFast, RobertaConfig, RobertaModel)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data")

LAYERS, HEADS, HIDDEN, FFN, POSITIONS = 2, 4, 32, 64, 64

CORPUS = [
    "The cat sat on the mat.",
    "The animal didn't cross the street because it was too tired.",
    "Attention lets every token look at every other token.",
    "A tiny model for tests: hello world, hello tokens!",
    "Byte-level pieces cover any text, even naïve café emoji 🙂.",
    "Numbers like 12345 and symbols like #$% are bytes too.",
    "She sells sea shells by the sea shore.",
    "The quick brown fox jumps over the lazy dog.",
]

SINGLE = ("single", "The cat sat on the mat.", None)
PAIR = ("pair", "Hello world!", "The quick brown fox jumps.")


def randomize(model, seed):
    """Wide seeded weights; LayerNorm gains near 1, biases near 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "LayerNorm.weight" in name or "layer_norm.weight" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.3 * noise)


def write_f32(path, t):
    np.ascontiguousarray(t.detach().numpy().astype("<f4")).tofile(path)


def run_case(model, out_dir, name, ids, type_ids, text_a, text_b, attention=True, offsets=None):
    x = torch.tensor([ids])
    with torch.no_grad():
        kwargs = {"input_ids": x, "output_attentions": attention, "output_hidden_states": True}
        if type_ids is not None and isinstance(model, RobertaModel):
            kwargs["token_type_ids"] = torch.tensor([type_ids])
        out = model(**kwargs)
    if attention:
        attn = torch.stack([a[0] for a in out.attentions])   # [L, NH, n, n]
        write_f32(os.path.join(out_dir, f"{name}-attn.f32"), attn)
    hidden = torch.stack([h[0] for h in out.hidden_states[1:]])   # [L, n, H]
    assert torch.equal(hidden[-1], out.last_hidden_state[0])
    write_f32(os.path.join(out_dir, f"{name}-hidden.f32"), hidden)
    return {"name": name, "text_a": text_a, "text_b": text_b, "ids": ids,
            "type_ids": type_ids if type_ids is not None else [0] * len(ids),
            "n": len(ids), "attention": attention, "offsets": offsets}


def encode(tok, a, b):
    enc = tok(a, b) if b is not None else tok(a)
    return list(enc["input_ids"]), list(enc.get("token_type_ids", [0] * len(enc["input_ids"])))


def write_cases(out_dir, cases, config):
    meta = {"layers": config["layers"], "heads": HEADS, "hidden": HIDDEN,
            "transformers": transformers.__version__, "torch": torch.__version__,
            "tokenizers": tokenizers.__version__, "cases": cases}
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")


def make_roberta():
    folder = os.path.join(DATA, "roberta-tiny")
    gold = os.path.join(folder, "goldens")
    os.makedirs(gold, exist_ok=True)

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tk.train_from_iterator(CORPUS, trainer=trainer)
    tk.post_processor = processors.RobertaProcessing(("</s>", tk.token_to_id("</s>")),
                                                     ("<s>", tk.token_to_id("<s>")),
                                                     trim_offsets=True, add_prefix_space=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                                  unk_token="<unk>", sep_token="</s>", cls_token="<s>",
                                  pad_token="<pad>", mask_token="<mask>")
    tok.save_pretrained(folder)

    pad = tk.token_to_id("<pad>")
    config = RobertaConfig(vocab_size=tk.get_vocab_size(), hidden_size=HIDDEN,
                           num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                           intermediate_size=FFN, max_position_embeddings=POSITIONS,
                           type_vocab_size=1, pad_token_id=pad, bos_token_id=0,
                           eos_token_id=2, hidden_act="gelu", layer_norm_eps=1e-5)
    config._attn_implementation = "eager"
    torch.manual_seed(1)
    model = RobertaModel(config, add_pooling_layer=False).eval()
    randomize(model, 11)
    model.save_pretrained(folder, safe_serialization=True)

    cases = []
    for name, a, b in (SINGLE, PAIR):
        ids, types = encode(tok, a, b)
        enc = tk.encode(a, b) if b is not None else tk.encode(a)
        assert enc.ids == ids, (enc.ids, ids)
        cases.append(run_case(model, gold, name, ids, [0] * len(ids), a, b,
                              offsets=[list(o) for o in enc.offsets]))
    # The longest input: positions pad+1 .. POSITIONS-1.
    n_max = POSITIONS - pad - 1
    rng = np.random.default_rng(5)
    ids = [int(i) for i in rng.integers(5, tk.get_vocab_size(), n_max)]
    cases.append(run_case(model, gold, "max", ids, [0] * n_max, None, None, attention=False))
    write_cases(gold, cases, {"layers": LAYERS})


WORDS = """the a an and or of to in on at by for with from as is are was were be
been it this that these those he she they we you i me my your his her their our
cat dog fox bird fish animal street road house car tree sea shore shell mat
sat sit run jump jumps over under lazy quick brown red green blue tired happy
hello world token tokens attention model models test tests tiny small big
look looks every other each one two three four five because too very not no
did didn t s cross crossed sells sell hat bat rat can will would could should""".split()


def wordpiece_tokenizer(folder, words):
    """A WordPiece vocabulary of specials, characters, WORDS and a few
    pieces, saved in FOLDER as BertTokenizerFast's files; returns the
    `tokenizers` Tokenizer, the transformers tokenizer and the vocabulary."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:;")
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##s", "##ing", "##ed", "##ly"]
    vocab = []
    for t in specials + chars + sorted(set(words)) + pieces:
        if t not in vocab:
            vocab.append(t)
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w") as f:
        f.write("\n".join(vocab) + "\n")
    # Built with `tokenizers` as BertTokenizerFast's tokenizer.json is
    # (BertNormalizer, BertPreTokenizer, WordPiece, the [CLS]/[SEP] template).
    tk = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.decoder = decoders.WordPiece()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", sep_token="[SEP]",
                                  cls_token="[CLS]", pad_token="[PAD]", mask_token="[MASK]")
    tok.save_pretrained(folder)
    return tk, tok, vocab


def make_distilbert():
    folder = os.path.join(DATA, "distilbert-tiny")
    gold = os.path.join(folder, "goldens")
    os.makedirs(gold, exist_ok=True)
    tk, tok, vocab = wordpiece_tokenizer(folder, WORDS)

    config = DistilBertConfig(vocab_size=len(vocab), dim=HIDDEN, n_layers=LAYERS,
                              n_heads=HEADS, hidden_dim=FFN,
                              max_position_embeddings=POSITIONS, activation="gelu",
                              pad_token_id=0)
    config._attn_implementation = "eager"
    torch.manual_seed(2)
    model = DistilBertModel(config).eval()
    randomize(model, 22)
    model.save_pretrained(folder, safe_serialization=True)

    cases = []
    for name, a, b in (SINGLE, PAIR):
        ids, types = encode(tok, a, b)
        assert 1 not in ids, ids   # every word of the cases is in the vocabulary
        enc = tk.encode(a, b) if b is not None else tk.encode(a)
        assert enc.ids == ids, (enc.ids, ids)
        types = enc.type_ids   # the template's; DistilBertModel itself takes none
        cases.append(run_case(model, gold, name, ids, types, a, b,
                              offsets=[list(o) for o in enc.offsets]))
    write_cases(gold, cases, {"layers": LAYERS})


MLM_WORDS = WORDS + """capital city france paris london berlin country river
king queen man woman""".split()

MLM_CASES = [
    "The capital of France is [MASK].",
    "The cat sat on the [MASK].",
    "The [MASK] brown fox jumps over the [MASK] dog.",
]


def make_bert_mlm():
    """BertForMaskedLM with its masked-LM head (the decoder tied to the
    word embeddings, as bert-base-uncased has it), and goldens of the head:
    for each [MASK] of each case, the logits row and its top 10."""
    folder = os.path.join(DATA, "bert-mlm-tiny")
    os.makedirs(folder, exist_ok=True)
    tk, tok, vocab = wordpiece_tokenizer(folder, MLM_WORDS)

    config = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, intermediate_size=FFN,
                        max_position_embeddings=POSITIONS, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
                        tie_word_embeddings=True)
    config._attn_implementation = "eager"
    torch.manual_seed(3)
    model = BertForMaskedLM(config).eval()
    randomize(model, 33)
    model.save_pretrained(folder, safe_serialization=True)

    mask = vocab.index("[MASK]")
    cases = []
    for text in MLM_CASES:
        enc = tok(text, return_token_type_ids=True)
        ids, types = list(enc["input_ids"]), list(enc["token_type_ids"])
        assert 1 not in ids, ids   # every word is in the vocabulary
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]),
                           token_type_ids=torch.tensor([types])).logits[0]   # [n, V]
        masks = []
        for pos in [i for i, t in enumerate(ids) if t == mask]:
            row = logits[pos]
            probs = torch.softmax(row.double(), dim=-1)
            top = torch.topk(probs, 10)
            masks.append({"position": pos,
                          "top_ids": [int(i) for i in top.indices],
                          "top_probs": [float(p) for p in top.values],
                          "logits": [float(x) for x in row]})
        cases.append({"text": text, "ids": ids, "masks": masks})
    meta = {"vocab_size": len(vocab), "hidden": HIDDEN, "layers": LAYERS,
            "transformers": transformers.__version__, "torch": torch.__version__,
            "cases": cases}
    with open(os.path.join(folder, "mlm-goldens.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


MAKERS = {"roberta-tiny": make_roberta, "distilbert-tiny": make_distilbert,
          "bert-mlm-tiny": make_bert_mlm}


if __name__ == "__main__":
    import sys
    # Folders by name (all of them when none is named).
    chosen = sys.argv[1:] or list(MAKERS)
    for d in chosen:
        MAKERS[d]()
    for d in chosen:
        total = sum(os.path.getsize(os.path.join(r, f))
                    for r, _, fs in os.walk(os.path.join(DATA, d)) for f in fs)
        print(f"{d}: {total} bytes")
