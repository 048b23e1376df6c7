"""Byte-level BPE (lesson 11) against the reference libraries, side by side in one run. Run on an otherwise idle machine.

    python tools/bench_bpe.py                    # 1,024 tokens on tiny Shakespeare, best of 3
    python tools/bench_bpe.py --vocab-size 4096 --repeat 5

1. Training: `gpt_course.bpe.train_bpe` vs Hugging Face `tokenizers`' BPE trainer (ByteLevel pre-tokenizer, the
   same GPT-2 split regex, the 256 bytes as initial alphabet, the same vocabulary size, the same text).
2. Encoding all of tiny Shakespeare: `BPETokenizer.encode` (a fresh tokenizer each time, so its chunk cache starts
   empty) vs `tiktoken` built from the same `mergeable_ranks` and pattern; the ids must be identical.

Prints absolute times and ratios, and exits non-zero if either ratio is over --max-ratio (default 20).
Data comes from $GPT_COURSE_DATA (or the cache).
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

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--vocab-size', type=int, default=1024)
    p.add_argument('--repeat', type=int, default=3, help='timed runs of each; the fastest counts')
    p.add_argument('--max-ratio', type=float, default=20.0, help='fail if ours is more than this many times slower')
    a = p.parse_args()
    import tiktoken, tokenizers
    from gpt_course.bpe import BPETokenizer, train_bpe
    from gpt_course.data import load_text
    text = load_text()
    print(f"tiny Shakespeare: {len(text):,} characters; vocab_size {a.vocab_size}; best of {a.repeat}; "
          f"{os.cpu_count()} CPU cores; tokenizers {tokenizers.__version__}, tiktoken {tiktoken.__version__}")

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

    over = [name for name, r in (('training', t_ours / t_hf), ('encoding', t_enc / t_tt)) if r > a.max_ratio]
    if over: sys.exit(f"FAIL: {', '.join(over)} more than {a.max_ratio:g}x slower than the reference")
    print(f"\nboth within {a.max_ratio:g}x of the reference libraries")

if __name__ == '__main__': main()
