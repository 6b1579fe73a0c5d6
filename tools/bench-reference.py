#!/usr/bin/env python3
"""bench-reference.py — the `attnscope-cli bench` rows, through Hugging Face
transformers on PyTorch (CPU, eager attention, output_attentions=True, no
grad, torch.set_num_threads equal to ours): what users run today.

    tools/bench-reference.py [--model DIR | --shape bert-base] [--threads N]
                             [--device cpu|cuda] [--inputs BENCH.json] [--json]
                             [-o FILE] [--dry-run]

With --inputs (the JSON of `attnscope-cli bench --json`) it takes the very
same texts and token ids, the thread count and the run policy from that file;
tools/bench-compare does this and prints the ratio per row.

PyTorch is never needed by the build or CI. This script runs itself in a
virtual environment OUTSIDE the repository:
  * $ATTNSCOPE_BENCH_VENV if set (an existing venv with torch + transformers),
  * else the venv it is already running in, if that has torch + transformers,
  * else ~/.cache/attnscope/bench-venv, created on first use with
    `pip install torch transformers` from PyPI (a few GB: the PyPI torch wheel
    for Linux carries the CUDA libraries, so --device cuda works with it too).
    An interrupted install is picked up again by the next run.
--dry-run says which of these would run, and stops.

--device cuda (the default when --inputs came from `bench --device gpu`)
runs PyTorch CUDA eager in fp32 with TF32 off, and copies every layer's
attention to host memory inside the timed region, as the GPU bench does.

FLOPs per layer are counted as in attnscope-cli bench:
2nH·(H+2KV) (QKV) + 2·2nnH (scores, P·V) + 2nH·H (output) + 2nHI·f (FFN,
f = 3 with a gate, else 2).

A decoder (a .gguf file, or "causal" in --inputs' config) runs as the base
model (no language-model head, as the forward rows of bench have none).
When --inputs has a "decode" row, decoding is timed too, with
AutoModelForCausalLM.generate (greedy) after a prompt of the same length:
per token = (time of generate(1 + steps) - time of generate(1)) / steps, both
as users run it (the default attention, no attentions returned) and with
eager attention returning every step's attentions.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Keep in sync with app/as-cli-bench.c (same text, same way of cutting it).
BENCH_PASSAGE = (
    "The committee met on a grey Tuesday morning to decide whether the old "
    "railway bridge should be repaired or replaced. Engineers had measured the "
    "corrosion in its steel beams, and their report was unambiguous: without "
    "major work the structure would not survive another decade of freight "
    "traffic. Local residents, however, argued that the bridge was part of the "
    "town's identity, painted in every souvenir shop and photographed by "
    "visitors since 1911. After three hours of discussion, the chair proposed a "
    "compromise that nobody had expected: keep the historic arches, rebuild the "
    "deck with modern materials, and open a small museum in the signal house. "
)
DEFAULT_LENGTHS = [16, 32, 64, 128, 256, 512]
PRESETS = {  # as_config_new_preset
    "bert-base": (12, 12, 768, 3072),
    "bert-large": (24, 16, 1024, 4096),
    "minilm-l6": (6, 12, 384, 1536),
}
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "attnscope", "bench-venv")


# --- the environment ---------------------------------------------------------

def have_torch():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        return True
    except ImportError:
        return False


def venv_python(path):
    return os.path.join(path, "bin", "python")


READY_MARK = ".attnscope-bench-ready"   # written once pip has installed everything


def plan_environment():
    """(python, venv, needs_install) for the run; python None = this one."""
    wanted = os.environ.get("ATTNSCOPE_BENCH_VENV")
    if not wanted:
        if sys.prefix != sys.base_prefix and have_torch():
            return None, sys.prefix, False
        wanted = DEFAULT_VENV
    py = venv_python(wanted)
    if os.environ.get("ATTNSCOPE_BENCH_VENV"):
        # the user's own environment: used as it is, never installed into
        return py, wanted, False
    return py, wanted, not os.path.exists(os.path.join(wanted, READY_MARK))


def ensure_environment(dry_run=False):
    """Re-executes this script under a Python that has torch + transformers."""
    if os.environ.get("ATTNSCOPE_BENCH_CHILD") == "1":
        return
    py, venv, needs_install = plan_environment()
    if dry_run:
        first = ""
        if needs_install and py is not None and os.path.exists(py):
            first = "; first finishing its `pip install torch transformers` from PyPI"
        elif needs_install:
            first = ("; first creating it with `%s -m venv` and `pip install torch transformers`"
                     " from PyPI" % sys.executable)
        print("bench-reference: would run under %s (venv %s)%s"
              % (py or sys.executable, venv, first))
        sys.exit(0)
    if py is None:
        return
    if os.environ.get("ATTNSCOPE_BENCH_VENV") and not os.path.exists(py):
        sys.exit("bench-reference: $ATTNSCOPE_BENCH_VENV=%s has no bin/python" % venv)
    if needs_install:
        print("bench-reference: setting up %s (torch + transformers from PyPI, a few GB; once)"
              % venv, file=sys.stderr)
        try:
            if not os.path.exists(py):
                os.makedirs(os.path.dirname(venv), exist_ok=True)
                subprocess.check_call([sys.executable, "-m", "venv", venv])
            subprocess.check_call([py, "-m", "pip", "install", "--upgrade", "pip"])
            # an interrupted install is resumed by the next run (no ready mark yet)
            subprocess.check_call([py, "-m", "pip", "install", "torch", "transformers"])
        except (OSError, subprocess.CalledProcessError) as e:
            sys.exit("bench-reference: could not set up %s: %s\n(on Debian/Ubuntu `python3 -m venv`"
                     " needs the python3-venv package; pip needs network access to PyPI)"
                     % (venv, e))
        with open(os.path.join(venv, READY_MARK), "w", encoding="utf-8") as f:
            f.write("torch + transformers installed by tools/bench-reference.py\n")
    env = dict(os.environ, ATTNSCOPE_BENCH_CHILD="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


# --- timing ------------------------------------------------------------------

now = time.perf_counter


def enough_runs(policy, runs, elapsed):
    if runs >= policy["max_runs"]:
        return True
    return runs >= policy["min_runs"] and elapsed >= policy["min_time"]


def forward_gflop(cfg, n, kv=None, ffn=2):
    layers, _, hid, inter = cfg
    kv = hid if kv is None else kv
    per_layer = (2 * n * hid * (hid + 2 * kv) + 2 * n * n * hid + 2 * n * n * hid
                 + 2 * n * hid * hid + 2 * n * hid * inter * ffn)
    return per_layer * layers / 1e9


def layer_blocks(model):
    """The model's list of layers: Llama's layers, GPT-2's h, BERT and
    RoBERTa's encoder.layer, DistilBERT's transformer.layer."""
    for path in ("layers", "h", "encoder.layer", "transformer.layer"):
        obj = model
        try:
            for name in path.split("."):
                obj = getattr(obj, name)
            return obj
        except AttributeError:
            continue
    raise SystemExit("bench-reference.py: no list of layers found in %s" % type(model).__name__)


def load_pretrained(cls, path, **kwargs):
    """A folder, or a .gguf file (de-quantised to fp32 by transformers)."""
    if path.endswith(".gguf"):
        import torch
        return cls.from_pretrained(os.path.dirname(os.path.abspath(path)),
                                   gguf_file=os.path.basename(path), torch_dtype=torch.float32,
                                   **kwargs)
    return cls.from_pretrained(path, **kwargs)


def time_decoding(torch, model_path, ids, steps, runs, device):
    """ms per generated token after the prompt IDS: {"default": …, "eager_attentions": …}."""
    from transformers import AutoModelForCausalLM
    out = {}
    for label, impl, attentions in (("default", None, False), ("eager_attentions", "eager", True)):
        kwargs = {"attn_implementation": impl} if impl else {}
        lm = load_pretrained(AutoModelForCausalLM, model_path, **kwargs).eval().to(device)
        feed = torch.tensor([ids], device=device)

        def generate(new):
            t0 = now()
            lm.generate(feed, attention_mask=torch.ones_like(feed), max_new_tokens=new,
                        min_new_tokens=new, do_sample=False, output_attentions=attentions,
                        return_dict_in_generate=attentions, pad_token_id=lm.config.eos_token_id)
            return (now() - t0) * 1e3

        generate(1 + steps)   # warm-up
        per_token = []
        for _ in range(runs):
            one = generate(1)
            many = generate(1 + steps)
            per_token.append((many - one) / steps)
        out[label] = {"step_ms": statistics.median(per_token), "attn_implementation":
                      lm.config._attn_implementation}
        del lm
    return out


def sgemm_rate(torch, size, samples, device, sync):
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    torch.mm(a, b)
    sync()
    rates = []
    for _ in range(samples):
        t0 = now()
        torch.mm(a, b)
        sync()
        rates.append(2.0 * size ** 3 / (now() - t0) / 1e9)
    return rates


def text_for_length(tokenizer, n):
    """Shortest prefix of the repeated passage with at least n tokens."""
    words = (BENCH_PASSAGE * 8).strip().split(" ")
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer(" ".join(words[:mid]))["input_ids"]) >= n:
            hi = mid
        else:
            lo = mid + 1
    return " ".join(words[:lo])


def main():
    ensure_environment(dry_run="--dry-run" in sys.argv[1:])
    try:
        import torch
        import transformers
    except ImportError as e:
        sys.exit("bench-reference: %s: %s lacks torch or transformers (set ATTNSCOPE_BENCH_VENV to"
                 " a venv that has both, or unset it to use %s)" % (e, sys.executable, DEFAULT_VENV))
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (Hugging Face layout)")
    ap.add_argument("--shape", choices=sorted(PRESETS), help="random weights with these shapes")
    ap.add_argument("--inputs", help="JSON of `attnscope-cli bench --json`: same texts, ids, threads")
    ap.add_argument("--lengths", help="token counts, default 16,32,64,128,256,512")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: as --inputs, else 2)")
    ap.add_argument("--warmup", type=int, help="untimed runs per length (default 2)")
    ap.add_argument("--runs", type=int, help="at least this many timed runs (default 7)")
    ap.add_argument("--max-runs", type=int, help="at most this many (default 200)")
    ap.add_argument("--min-time", type=float, help="seconds per length at least (default 1)")
    ap.add_argument("--device", choices=["cpu", "cuda"],
                    help="where the model runs (default: cuda when --inputs came from"
                         " `bench --device gpu`, else cpu)")
    ap.add_argument("--sgemm-size", type=int, default=2048)
    ap.add_argument("--dry-run", action="store_true",
                    help="say which Python/venv would run (and whether it would be created), then stop")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args()

    inputs = None
    if args.inputs:
        with open(args.inputs, encoding="utf-8") as f:
            inputs = json.load(f)
        if args.shape is None and args.model is None:
            if inputs.get("shape"):
                args.shape = inputs["shape"]
            else:
                args.model = inputs["model_dir"] if inputs.get("model_dir") else None
    if args.model is None and args.shape is None:
        here = os.path.dirname(os.path.abspath(__file__))
        args.model = os.environ.get("ATTNSCOPE_MODEL_DIR") or os.path.join(
            here, "..", "data", "models", "all-MiniLM-L6-v2")
    threads = args.threads or (inputs["threads"] if inputs else 2)
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    device = args.device
    if device is None:
        device = "cuda" if inputs and inputs.get("device") == "gpu" else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench-reference: --device cuda: torch %s sees no CUDA device" % torch.__version__)
        # fp32 as AttnScope's default GPU path: no TF32 in matmuls
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    tokenizer = None
    load_ms = None
    if args.shape:
        layers, heads, hid, inter = PRESETS[args.shape]
        config = BertConfig(vocab_size=30522, hidden_size=hid, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=inter,
                            max_position_embeddings=512, type_vocab_size=2,
                            attn_implementation="eager")
        torch.manual_seed(1)
        model = BertModel(config).eval().to(device)
        label = args.shape
    else:
        loads = []
        for _ in range(3):
            t0 = now()
            model = load_pretrained(AutoModel, args.model, attn_implementation="eager").eval()
            loads.append((now() - t0) * 1e3)
        model = model.to(device)
        load_ms = statistics.median(loads[1:])
        tokenizer = load_pretrained(AutoTokenizer, args.model)
        label = os.path.basename(os.path.normpath(args.model))
        c = model.config
        # GPT2Config names the FFN's width n_inner (None: 4 x hidden),
        # DistilBertConfig hidden_dim
        inter = getattr(c, "intermediate_size", None) or getattr(c, "n_inner", None) \
            or getattr(c, "hidden_dim", None) or 4 * c.hidden_size
        layers, heads, hid = c.num_hidden_layers, c.num_attention_heads, c.hidden_size
    cfg = (layers, heads, hid, inter)
    causal = bool(getattr(model.config, "is_decoder", False)) or args.model is not None and \
        args.model.endswith(".gguf")
    kv_hidden, ffn_products = None, 2
    if inputs and inputs.get("config"):
        causal = inputs["config"].get("causal", causal)
        kv_hidden = inputs["config"].get("kv_hidden")
        ffn_products = inputs["config"].get("ffn_products", 2)

    policy = {"warmup": 2, "min_runs": 7, "max_runs": 200, "min_time": 1.0}
    if inputs and inputs.get("policy"):
        policy.update(inputs["policy"])
    for key, value in (("warmup", args.warmup), ("min_runs", args.runs),
                       ("max_runs", args.max_runs), ("min_time", args.min_time)):
        if value is not None:
            policy[key] = value
    if inputs:
        rows_in = inputs["rows"]
    else:
        lengths = [int(x) for x in args.lengths.split(",")] if args.lengths else DEFAULT_LENGTHS
        rows_in = []
        gen = torch.Generator().manual_seed(1)
        for n in lengths:
            if tokenizer is not None:
                text = text_for_length(tokenizer, n)
                enc = tokenizer(text, truncation=True, max_length=n)
                rows_in.append({"tokens": len(enc["input_ids"]), "text": text,
                                "ids": enc["input_ids"], "type_ids": enc["token_type_ids"]})
            else:
                ids = torch.randint(1000, 30522, (n,), generator=gen).tolist()
                ids[0], ids[-1] = 101, 102
                rows_in.append({"tokens": n, "text": None, "ids": ids, "type_ids": [0] * n})

    # Time to the first layer: a hook on encoder.layer[0] fires when that
    # layer (its attention included) is done.
    # On CUDA the hook waits for the GPU, so it marks when layer 0 is computed
    # (its attention still on the device).
    marks = {}

    def first_layer_done(*_):
        sync()
        marks["first"] = now()

    layer_blocks(model)[0].register_forward_hook(first_layer_done)

    rates = sgemm_rate(torch, args.sgemm_size, 5, device, sync)
    rows = []
    for r in rows_in:
        n = r["tokens"]
        row = {"tokens": n, "tokenize_ms": None}
        if r.get("text") and tokenizer is not None:
            enc = tokenizer(r["text"], truncation=True, max_length=n, return_tensors="pt")
            if enc["input_ids"][0].tolist() != r["ids"]:
                print("bench-reference: warning: %d tokens: transformers' ids differ from ours" % n,
                      file=sys.stderr)
            samples, batch = [], 1
            while True:
                t0 = now()
                for _ in range(batch):
                    tokenizer(r["text"], truncation=True, max_length=n, return_tensors="pt")
                if now() - t0 > 1e-3 or batch >= 1 << 16:
                    break
                batch *= 2
            start = now()
            while not enough_runs(policy, len(samples), now() - start):
                t0 = now()
                for _ in range(batch):
                    tokenizer(r["text"], truncation=True, max_length=n, return_tensors="pt")
                samples.append((now() - t0) * 1e3 / batch)
            row["tokenize_ms"] = statistics.median(samples)

        feed = {"input_ids": torch.tensor([r["ids"]], device=device),
                "attention_mask": torch.ones(1, n, dtype=torch.long, device=device)}
        if not causal:
            feed["token_type_ids"] = torch.tensor([r["type_ids"]], device=device)

        def once():
            t0 = now()
            out = model(**feed, output_attentions=True)
            # every layer's attention in host memory, as attnscope-cli bench has it
            attentions = [a.cpu() for a in out.attentions] if device == "cuda" else out.attentions
            sync()
            t1 = now()
            assert len(attentions) == layers and attentions[0].shape[-1] == n
            return (marks["first"] - t0) * 1e3, (t1 - t0) * 1e3

        for _ in range(policy["warmup"]):
            once()
        firsts, totals = [], []
        start = now()
        while not enough_runs(policy, len(totals), now() - start):
            f, t = once()
            firsts.append(f)
            totals.append(t)
        row["runs"] = len(totals)
        row["first_layer_ms"] = statistics.median(firsts)
        row["forward_ms"] = statistics.median(totals)
        row["forward_min_ms"] = min(totals)
        row["gflop"] = forward_gflop(cfg, n, kv_hidden, ffn_products)
        row["gflops"] = row["gflop"] / (row["forward_ms"] * 1e-3)
        rows.append(row)
        if not args.json:
            print("  %d tokens: %.3f ms" % (n, row["forward_ms"]), file=sys.stderr)
    decode = None
    if inputs and inputs.get("decode") and tokenizer is not None:
        d = inputs["decode"]
        text = text_for_length(tokenizer, d["context"])
        ids = tokenizer(text, truncation=True, max_length=d["context"])["input_ids"]
        decode = {"context": len(ids), "steps": d["steps"], "runs": d["runs"]}
        decode.update(time_decoding(torch, args.model, ids, d["steps"], d["runs"], device))
        if not args.json:
            print("  decoding after %d tokens: %.3f ms per token"
                  % (len(ids), decode["default"]["step_ms"]), file=sys.stderr)
    rates += sgemm_rate(torch, args.sgemm_size, 5, device, sync)

    report = {
        "tool": "transformers",
        "model": label,
        "shape": args.shape,
        "config": {"layers": layers, "heads": heads, "hidden": hid, "intermediate": inter},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "attn_implementation": "eager",
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else None,
        "sgemm": {"size": args.sgemm_size, "gflops": statistics.median(rates),
                  "best_gflops": max(rates), "library": "torch.mm"},
        "load_ms": load_ms,
        "rows": rows,
        "decode": decode,
    }
    for row in rows:
        row["sgemm_fraction"] = row["gflops"] / report["sgemm"]["gflops"]

    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    if args.json:
        json.dump(report, out, indent=1)
        out.write("\n")
    else:
        write_table(out, report)
    if out is not sys.stdout:
        out.close()


def fmt(v, width, prec=3):
    return ("%*.*f" % (width, prec, v)) if v is not None else "%*s" % (width, "-")


def write_table(out, r):
    c = r["config"]
    out.write("transformers %s on torch %s, %s (eager, output_attentions): %s "
              "(%d layers, %d heads, hidden %d, FFN %d)\n"
              % (r["transformers"], r["torch"], r["device_name"] or r["device"], r["model"],
                 c["layers"], c["heads"],
                 c["hidden"], c["intermediate"]))
    out.write("torch.mm %d^3, same run: %.1f GFLOP/s median (best %.1f), %d threads\n"
              % (r["sgemm"]["size"], r["sgemm"]["gflops"], r["sgemm"]["best_gflops"], r["threads"]))
    if r["load_ms"] is not None:
        out.write("model load (from_pretrained, warm): %.1f ms\n" % r["load_ms"])
    out.write("tokens  tokenize ms  first layer ms  forward ms   GFLOP  GFLOP/s  %SGEMM  runs\n")
    for row in r["rows"]:
        out.write("%6d%s%s%s  %6.3f  %7.1f  %5.1f%%  %4d\n"
                  % (row["tokens"], fmt(row["tokenize_ms"], 13), fmt(row["first_layer_ms"], 16),
                     fmt(row["forward_ms"], 12), row["gflop"], row["gflops"],
                     100 * row["sgemm_fraction"], row["runs"]))
    d = r.get("decode")
    if d:
        out.write("decoding after a %d-token prompt (generate, greedy): %.2f ms per token (%s), "
                  "%.2f ms with eager attention returning attentions\n"
                  % (d["context"], d["default"]["step_ms"], d["default"]["attn_implementation"],
                     d["eager_attentions"]["step_ms"]))


if __name__ == "__main__":
    main()
