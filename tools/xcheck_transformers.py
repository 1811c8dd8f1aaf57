#!/usr/bin/env python3
"""Cross-check `gemma logits` / greedy / image preprocessing against transformers (float64, eager attention)
on fresh random checkpoints saved by transformers itself.

Needs torch + transformers (not installed by scripts/install-deps.sh; run it where they exist):
    python3 tools/xcheck_transformers.py build/gemma tests/data/golden
Prints one line per check and writes $OUT/xcheck.json and $OUT/xcases.tar.gz (the checkpoints, inputs and
reference logits, for turning a finding into a test). Known, not ours: transformers' eager attention gives NaN
when an encoder pad row sees no real key in its window (t5gemma2-tiny-a with 3 pads), and its torchvision
resize differs from Pillow's fixed-point BILINEAR (which the golden vision cases specify) by one level."""
import json, os, sys, subprocess, traceback, shutil, tarfile
import numpy as np, torch, transformers
from transformers import AutoConfig
torch.set_grad_enabled(False)
GEMMA = os.path.abspath(sys.argv[1]); GOLD = os.path.abspath(sys.argv[2]); WORK = "/tmp/xc"; OUT = os.environ.get("OUT", "/tmp/out")
shutil.rmtree(WORK, ignore_errors=True); os.makedirs(WORK); os.makedirs(OUT, exist_ok=True)
print("transformers", transformers.__version__, "torch", torch.__version__, flush=True)
summary = []

def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() == 1:
            std = 0.3 if "norm" in name else 0.2
            if "layernorm" in name.lower() or "post_layernorm" in name or ("vision" in name and "norm" in name and name.endswith("weight")):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g)); continue
        else:
            fan = int(np.prod(p.shape[1:])); std = fan ** -0.5
            if "embed_tokens" in name or "position_embedding" in name: std = 1.0 / (p.shape[-1] ** 0.5) * 1.0
        p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * std)

def bf16_scales(model):
    for m in model.modules():
        es = getattr(m, "embed_scale", None)
        if isinstance(es, torch.Tensor):
            es.copy_(es.float().to(torch.bfloat16).to(es.dtype))
        elif isinstance(es, float):
            m.embed_scale = float(torch.tensor(es, dtype=torch.float32).to(torch.bfloat16))

def make(cls, cfg, name, seed):
    d = os.path.join(WORK, name)
    m = cls(cfg); randomize(m, seed); m = m.to(torch.bfloat16); m.save_pretrained(d)
    try: ref = cls.from_pretrained(d, dtype=torch.float64, attn_implementation="eager")
    except TypeError: ref = cls.from_pretrained(d, torch_dtype=torch.float64, attn_implementation="eager")
    ref = ref.to(torch.float64).eval(); bf16_scales(ref)  # sub-configs may keep their own dtype
    return d, ref

def ours(args):
    r = subprocess.run([GEMMA] + args, capture_output=True, text=True)
    if r.returncode: raise RuntimeError("gemma " + " ".join(args[:3]) + " failed: " + r.stderr.strip()[-600:])
    return r.stdout

def ours_logits(d, ids, extra=()):
    f = os.path.join(d, "ours.npy")
    ours(["logits", "--model", d, "--ids", ",".join(map(str, ids)), "--out", f] + list(extra))
    return np.load(f)

def report(name, ref, got, note="", d=None):
    if d: np.save(os.path.join(d, "ref_" + "".join(c if c.isalnum() else "_" for c in name)[:40] + ".npy"), np.asarray(ref, dtype=np.float32))
    ref = np.asarray(ref, dtype=np.float64); got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        summary.append((name, "SHAPE", f"{got.shape} vs {ref.shape}")); print("FAIL", name, "shape", got.shape, ref.shape, flush=True); return
    err = np.abs(ref - got).max() / max(1.0, np.abs(ref).max())
    ok = err <= 2e-4
    summary.append((name, "ok" if ok else "FAIL", f"{err:.2e} {note}")); print("ok  " if ok else "FAIL", name, f"rel err {err:.3e}", note, flush=True)

def greedy_check(name, step_logits_fn, ours_ids, n):
    """Reference greedy with margins; a flip only counts when the reference margin is clear."""
    seq = []; bad = None
    for j in range(n):
        l = step_logits_fn(seq).astype(np.float64); top = np.argsort(l)[::-1][:2]; margin = l[top[0]] - l[top[1]]
        if j < len(ours_ids) and ours_ids[j] != top[0]:
            bad = (j, int(ours_ids[j]), int(top[0]), float(margin / max(1, np.abs(l).max()))); break
        seq.append(int(top[0]))
    if bad and bad[3] > 1e-3: summary.append((name, "FAIL", f"greedy differs at {bad}")); print("FAIL", name, bad, flush=True)
    else: summary.append((name, "ok", f"greedy {len(seq)} steps" + (f" (near-tie flip {bad})" if bad else ""))); print("ok  ", name, "greedy", bad, flush=True)

def case(fn):
    try: fn()
    except Exception as e:
        traceback.print_exc(); summary.append((fn.__name__, "ERROR", str(e)[-300:]))

rng = np.random.default_rng(7)

def gemma3_text():
    from transformers import Gemma3ForCausalLM
    for i, g in enumerate(["gemma3-tiny-a", "gemma3-tiny-b", "gemma3-tiny-c", "gemma3-tiny-d"]):
      try:
        cfg = AutoConfig.from_pretrained(os.path.join(GOLD, g))
        if i == 1: cfg.final_logit_softcapping = 15.0
        d, ref = make(Gemma3ForCausalLM, cfg, "x-" + g, 100 + i)
        T = 41 + 3 * i; ids = [2] + list(rng.integers(3, cfg.vocab_size, T - 1))
        want = ref(input_ids=torch.tensor([ids])).logits[0].numpy()
        json.dump({"ids": [int(x) for x in ids]}, open(os.path.join(d, "inputs.json"), "w"))
        report(f"{g}+seed{100+i} logits T={T}" + (" softcap15" if i == 1 else ""), want, ours_logits(d, ids), d=d)
        n = 12
        got = [int(x) for x in ours(["generate", "--model", d, "--ids", ",".join(map(str, ids)), "--max-new-tokens", str(n), "--print-ids", "--ignore-eos", "--kv-dtype", "f32"]).strip().split(",")]
        greedy_check(f"{g} greedy", lambda s: ref(input_ids=torch.tensor([ids + s])).logits[0, -1].numpy(), got, n)
      except Exception as e: traceback.print_exc(); summary.append((g, "ERROR", str(e)[-300:]))

def pixel_file(d, pv, name="pv.safetensors"):
    from safetensors.torch import save_file
    f = os.path.join(d, name); save_file({"pixel_values": pv.float().contiguous()}, f); return f

def gemma3_mm():
    from transformers import Gemma3ForConditionalGeneration
    cfg = AutoConfig.from_pretrained(os.path.join(GOLD, "gemma3-mm-tiny-a"))
    d, ref = make(Gemma3ForConditionalGeneration, cfg, "x-gemma3-mm", 200)
    it, boi, eoi, n = cfg.image_token_index, cfg.boi_token_index, cfg.eoi_token_index, cfg.mm_tokens_per_image
    ids = [2, 17, 40] + [boi] + [it] * n + [eoi, 99, 108, 7] + [boi] + [it] * n + [eoi] + list(rng.integers(3, 400, 9))
    pv = torch.rand(2, 3, 56, 56, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    tt = torch.tensor([[1 if t == it else 0 for t in ids]])
    want = ref(input_ids=torch.tensor([ids]), pixel_values=pv, token_type_ids=tt).logits[0].numpy()
    report("gemma3-mm 2 images logits", want, ours_logits(d, ids, ["--pixel-values", pixel_file(d, pv)]), d=d)
    json.dump({"ids": [int(x) for x in ids]}, open(os.path.join(d, "inputs.json"), "w"))
    # image features alone
    f = os.path.join(d, "emb.npy"); ours(["image-embed", "--model", d, "--pixel-values", pixel_file(d, pv[:1], "pv_first.safetensors"), "--out", f])
    feats = ref.get_image_features(pixel_values=pv[:1])
    feats = feats if isinstance(feats, torch.Tensor) else getattr(feats, "pooler_output", feats[0])
    report("gemma3-mm image-embed", feats.reshape(-1, feats.shape[-1]).numpy(), np.load(f).reshape(-1, feats.shape[-1]))
    # preprocessing: Pillow-exact resize / rescale / normalise
    from PIL import Image
    from transformers import Gemma3ImageProcessor
    proc = Gemma3ImageProcessor(size={"height": 56, "width": 56}, resample=2, image_mean=[0.5] * 3, image_std=[0.5] * 3, do_convert_rgb=True)
    imgs = {"rgb.jpg": Image.fromarray(rng.integers(0, 256, (77, 123, 3), dtype=np.uint8), "RGB"),
            "rgba.png": Image.fromarray(rng.integers(0, 256, (200, 300, 4), dtype=np.uint8), "RGBA"),
            "gray.png": Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), "L"),
            "tall.png": Image.fromarray(rng.integers(0, 256, (500, 31, 3), dtype=np.uint8), "RGB"),
            "pal.png": Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), "RGB").convert("P")}
    for fn, im in imgs.items():
        p = os.path.join(d, fn); im.save(p)
        want = proc(images=Image.open(p), return_tensors="np")["pixel_values"][0]
        f = os.path.join(d, fn + ".npy")
        try:
            ours(["image-embed", "--model", d, "--image", p, "--out", os.path.join(d, "e.npy"), "--pixels-out", f])
            report(f"preprocess {fn}", want, np.load(f))
        except Exception as e: summary.append((f"preprocess {fn}", "ERROR", str(e)[-300:]))

def t5_text():
    from transformers import T5Gemma2ForConditionalGeneration
    for i, g in enumerate(["t5gemma2-tiny-a", "t5gemma2-tiny-b", "t5gemma2-tiny-c", "t5gemma2-tiny-d"]):
      try:
        cfg = AutoConfig.from_pretrained(os.path.join(GOLD, g))
        d, ref = make(T5Gemma2ForConditionalGeneration, cfg, "x-" + g, 300 + i)
        S = 23 + 5 * i; enc = [2] + list(rng.integers(3, cfg.vocab_size, S - 2)) + [1]
        if i % 2 == 0: enc += [0, 0, 0]
        mask = [0 if t == 0 else 1 for t in enc]
        dec = [2] + list(rng.integers(3, cfg.vocab_size, 6 + i))
        fwd = lambda dd: ref(input_ids=torch.tensor([enc]), attention_mask=torch.tensor([mask]), decoder_input_ids=torch.tensor([dd])).logits[0].numpy()
        report(f"{g}+seed{300+i} logits S={len(enc)} T={len(dec)}", fwd(dec), ours_logits(d, dec, ["--encoder-ids", ",".join(map(str, enc))]), d=d)
        json.dump({"enc": [int(x) for x in enc], "dec": [int(x) for x in dec]}, open(os.path.join(d, "inputs.json"), "w"))
        n = 10
        got = [int(x) for x in ours(["generate", "--model", d, "--encoder-ids", ",".join(map(str, enc)), "--ids", ",".join(map(str, dec)), "--max-new-tokens", str(n), "--print-ids", "--ignore-eos", "--kv-dtype", "f32"]).strip().split(",")]
        greedy_check(f"{g} greedy", lambda s: fwd(dec + s)[-1], got, n)
      except Exception as e: traceback.print_exc(); summary.append((g, "ERROR", str(e)[-300:]))

def t5_mm():
    from transformers import T5Gemma2ForConditionalGeneration
    cfg = AutoConfig.from_pretrained(os.path.join(GOLD, "t5gemma2-mm-tiny-a"))
    d, ref = make(T5Gemma2ForConditionalGeneration, cfg, "x-t5-mm", 400)
    it, boi, eoi, n = 502, 500, 501, 4
    enc = [2, 5, 6] + [boi] + [it] * n + [eoi] + list(rng.integers(3, 400, 7)) + [boi] + [it] * n + [eoi, 1]
    dec = [2, 77, 300]
    pv = torch.rand(2, 3, 56, 56, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    want = ref(input_ids=torch.tensor([enc]), pixel_values=pv, decoder_input_ids=torch.tensor([dec])).logits[0].numpy()
    report("t5gemma2-mm 2 images logits", want, ours_logits(d, dec, ["--encoder-ids", ",".join(map(str, enc)), "--pixel-values", pixel_file(d, pv)]), d=d)
    json.dump({"enc": [int(x) for x in enc], "dec": [int(x) for x in dec]}, open(os.path.join(d, "inputs.json"), "w"))

for fn in (gemma3_text, gemma3_mm, t5_text, t5_mm): case(fn)
print("\n==== SUMMARY ====")
for s in summary: print(" | ".join(map(str, s)))
json.dump(summary, open(os.path.join(OUT, "xcheck.json"), "w"), indent=1)
with tarfile.open(os.path.join(OUT, "xcases.tar.gz"), "w:gz") as t: t.add(WORK, arcname="xc")
