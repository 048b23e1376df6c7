"""Byte-level BPE (lesson 11) against the reference libraries, side by side in one run. Run on an otherwise idle machine.

    python tools/bench_bpe.py                    # 1,024 tokens on tiny Shakespeare, best of 3
    python tools/bench_bpe.py --vocab-size 4096 --repeat 5
    python tools/bench_bpe.py --long             # also one long chunk, 1,000 to 100,000 letters (minutes: the naive encoder)

1. Training: `gpt_course.bpe.train_bpe` vs Hugging Face `tokenizers`' BPE trainer (ByteLevel pre-tokenizer, the
   same GPT-2 split regex, the 256 bytes as initial alphabet, the same vocabulary size, the same text).
2. Encoding all of tiny Shakespeare: `BPETokenizer.encode` (a fresh tokenizer each time, so its chunk cache starts
   empty) vs `tiktoken` built from the same `mergeable_ranks` and pattern; the ids must be identical.
3. The same with GPT-2's own vocabulary (`gpt2_tokenizer()`, from $GPT_COURSE_GPT2_RANKS) vs `tiktoken`'s GPT-2
   encoding built offline from the same file; skipped when the variable is not set (nothing is downloaded).
4. With --long: one chunk of letters (tiny Shakespeare with everything but letters removed) of 1,000 to 100,000
   characters, a 512-token vocabulary: the naive encoder (`bpe_parts_naive`, quadratic), the heap encoder
   (`bpe_parts`) and `tiktoken`, ids checked against `tiktoken`. The naive one runs once per length beyond 8,000.

Prints absolute times, characters per second and ratios, and the CPU; exits non-zero if a ratio to the reference
library is over --max-ratio (default 20). Data comes from $GPT_COURSE_DATA (or the cache).
"""
import argparse, os, sys, time

def best_of(n:int, fn):
    "The fastest of `n` timed calls of `fn`, and the last result."
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t0)
    return min(times), out

def hf_train(text:str, vocab_size:int):
    "Hugging Face's BPE trainer with GPT-2's byte-level pre-tokenizer."
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, special_tokens=[], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator([text], trainer=trainer)
    return tk

def hf_merges_as_bytes(tk) -> set:
    "HF's merges as pairs of byte strings (undoing GPT-2's byte-to-printable-character mapping)."
    import json
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256 + n); n += 1
    u2b = {chr(c): b for b, c in zip(bs, cs)}
    merges = json.loads(tk.to_str())['model']['merges']
    pairs = [m.split(' ') if isinstance(m, str) else m for m in merges]
    return {(bytes(u2b[c] for c in a), bytes(u2b[c] for c in b)) for a, b in pairs}

def cpu_name() -> str:
    "The CPU's model name and the vector instructions torch uses on it."
    import platform, torch
    name = platform.processor() or platform.machine()
    if os.path.exists('/proc/cpuinfo'):
        name = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), name)
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"

def bench_gpt2(text:str, repeat:int) -> float:
    "Encode `text` with GPT-2's vocabulary, ours (cold and warm cache) vs tiktoken; returns ours (cold) / tiktoken."
    import tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str
    from gpt_course.bpe import GPT2_SPECIAL_TOKENS, gpt2_ranks_file, gpt2_tokenizer, read_tiktoken
    t_load, gpt2 = best_of(1, gpt2_tokenizer)
    enc = tiktoken.Encoding('gpt2', pat_str=r50k_pat_str, mergeable_ranks=read_tiktoken(gpt2_ranks_file()),
                            special_tokens=GPT2_SPECIAL_TOKENS)
    def cold(): gpt2._cache.clear(); return gpt2.encode(text)
    t_cold, ids = best_of(repeat, cold)
    t_warm, _ = best_of(repeat, lambda: gpt2.encode(text))
    t_tt, ids_tt = best_of(repeat, lambda: enc.encode(text))
    if ids != ids_tt: sys.exit("FAIL: our GPT-2 ids differ from tiktoken's")
    print(f"\nencoding tiny Shakespeare with GPT-2's vocabulary ({len(ids):,} tokens, identical ids; loaded in {t_load:.2f} s):")
    for name, t in (('ours, cold cache', t_cold), ('ours, warm cache', t_warm), ('tiktoken (Rust)', t_tt)):
        print(f"  {name:<32}  {t:8.3f} s   {len(text) / t / 1e6:6.2f} M characters/s")
    print(f"  ratio ours (cold) / tiktoken      {t_cold / t_tt:8.2f}x")
    return t_cold / t_tt

def bench_long(text:str, repeat:int):
    "One chunk of letters, 1,000 to 100,000 long: naive vs heap encoder vs tiktoken, 512 tokens."
    import tiktoken
    from gpt_course.bpe import GPT2_SPLIT_PATTERN, bpe_parts, bpe_parts_naive, ranks_from_merges, train_bpe
    ranks = ranks_from_merges(train_bpe(text, 512))
    enc = tiktoken.Encoding('long', pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens={})
    letters = ''.join(c for c in text if c.isalpha())
    print(f"\none chunk of letters, 512-token vocabulary (naive: best of {repeat} up to 8,000, then one run):")
    print(f"  {'letters':>8} {'naive s':>9} {'heap s':>9} {'tiktoken s':>11} {'naive / heap':>13} {'heap / tiktoken':>16}")
    for n in (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000):
        chunk = letters[:n].encode()
        t_heap, parts = best_of(repeat, lambda: bpe_parts(ranks, chunk))
        t_naive, parts_naive = best_of(repeat if n <= 8_000 else 1, lambda: bpe_parts_naive(ranks, chunk))
        t_tt, ids_tt = best_of(repeat, lambda: enc.encode_ordinary(letters[:n]))
        if parts != parts_naive or [ranks[p] for p in parts] != ids_tt: sys.exit(f"FAIL: the encoders differ at {n}")
        print(f"  {n:>8,} {t_naive:>9.3f} {t_heap:>9.4f} {t_tt:>11.4f} {t_naive / t_heap:>12.0f}x {t_heap / t_tt:>15.1f}x",
              flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--vocab-size', type=int, default=1024)
    p.add_argument('--repeat', type=int, default=3, help='timed runs of each; the fastest counts')
    p.add_argument('--max-ratio', type=float, default=20.0, help='fail if ours is more than this many times slower')
    p.add_argument('--long', action='store_true', help='also time one long chunk, 1,000 to 100,000 letters')
    a = p.parse_args()
    import tiktoken, tokenizers
    from gpt_course.bpe import BPETokenizer, train_bpe
    from gpt_course.data import load_text
    text = load_text()
    print(f"tiny Shakespeare: {len(text):,} characters; vocab_size {a.vocab_size}; best of {a.repeat}; "
          f"CPU {cpu_name()}, {os.cpu_count()} cores; tokenizers {tokenizers.__version__}, tiktoken {tiktoken.__version__}")

    t_ours, merges = best_of(a.repeat, lambda: train_bpe(text, a.vocab_size))
    t_hf, hf = best_of(a.repeat, lambda: hf_train(text, a.vocab_size))
    tok = BPETokenizer(merges)
    ours_pairs = {(tok.vocab[x], tok.vocab[y]) for x, y in tok.merges}
    hf_pairs = hf_merges_as_bytes(hf)
    print(f"\ntraining {a.vocab_size} tokens ({len(merges)} merges):")
    print(f"  ours (gpt_course.bpe.train_bpe)   {t_ours:8.3f} s")
    print(f"  Hugging Face tokenizers (Rust)    {t_hf:8.3f} s   ({hf.get_vocab_size()} tokens)")
    print(f"  ratio ours / HF                   {t_ours / t_hf:8.2f}x")
    print(f"  merges in common                  {len(ours_pairs & hf_pairs)} of {len(ours_pairs)} "
          f"(ties between equal counts are broken differently)")

    enc = tiktoken.Encoding('bench', pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks, special_tokens={})
    t_enc, ids = best_of(a.repeat, lambda: BPETokenizer(merges).encode(text))       # a cold cache every time
    t_warm, _ = best_of(a.repeat, lambda: tok.encode(text))                         # cache filled by the first call
    t_tt, ids_tt = best_of(a.repeat, lambda: enc.encode_ordinary(text))
    if ids != ids_tt: sys.exit("FAIL: our ids differ from tiktoken's")
    print(f"\nencoding tiny Shakespeare ({len(ids):,} tokens, identical ids):")
    print(f"  ours, cold cache                  {t_enc:8.3f} s")
    print(f"  ours, warm cache                  {t_warm:8.3f} s")
    print(f"  tiktoken (Rust)                   {t_tt:8.3f} s")
    print(f"  ratio ours (cold) / tiktoken      {t_enc / t_tt:8.2f}x")

    ratios = [('training', t_ours / t_hf), ('encoding', t_enc / t_tt)]
    if os.environ.get('GPT_COURSE_GPT2_RANKS'): ratios.append(('encoding with GPT-2', bench_gpt2(text, a.repeat)))
    else: print("\nGPT-2's vocabulary: skipped (set GPT_COURSE_GPT2_RANKS to a copy of r50k_base.tiktoken)")
    if a.long: bench_long(text, a.repeat)
    over = [name for name, r in ratios if r > a.max_ratio]
    if over: sys.exit(f"FAIL: {', '.join(over)} more than {a.max_ratio:g}x slower than the reference")
    print(f"\nall within {a.max_ratio:g}x of the reference libraries")

if __name__ == '__main__': main()
