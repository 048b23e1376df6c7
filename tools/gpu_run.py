"""Everything the GPU issue asks of a lent CUDA machine, in one run of about 9 minutes, with a JSON of figures.

    python tools/gpu_run.py --out "$OUT" --data .gpu/tinyshakespeare.txt --nanogpt .gpu/nanoGPT   # on the GPU machine
    python tools/gpu_run.py --out /tmp/gpu --smoke --nanogpt /tmp/nanoGPT                           # anywhere: seconds per part

On a lent machine: put the data file and a nanoGPT checkout in the ignored folder .gpu/ (never committed), carry it, and run
`pip install -q -e ".[dev]" && python tools/gpu_run.py --out "$OUT" --data .gpu/tinyshakespeare.txt --nanogpt .gpu/nanoGPT`
with a timeout of 600 s. Smoke-tested on a 2-core CPU: every part ran, 148 s in all.

Parts, each timed, each failure recorded in the JSON while the rest run on:

1. seed     lesson 06d executed with its `gpu` cell (the seed recipe's run, curve, best loss and sample), saved to OUT/nbs
2. decode   lesson 07b executed with its `gpu` cell, and here: gpt-10m fp32, batch 1, 500 new tokens, uncached loop, eager
            KV cache and the CUDA-graph decoder (`GraphDecoder`), with the greedy tokens compared
3. t4       a T4's conditions emulated and labelled so: fp16 with a GradScaler, flash attention off, memory capped at 15 GiB,
            compile on and off: tokens/s and peak memory of the seed recipe, beside lesson 08's memory model and its T4
            time estimate scaled by the two cards' published fp16 peaks
4. muon     gpt-10m against gpt-10m-muon at equal wall time, as many seeds as fit: best validation loss each
5. nanogpt  nanoGPT's train.py with its Shakespeare-char config (a checkout given by --nanogpt, never committed) at the
            same wall time as our seed recipe: tokens/s and best validation loss
6. rest     with the time left: the other notebooks with their `slow` and `gpu` cells, per-notebook times

The data file is copied into nanoGPT's data folder for its prepare.py (the GPU machine has no network). `--smoke` runs
every part on the CPU with tiny presets and budgets, to test this script; its figures mean nothing.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {}

def save(out:Path):
    (out/'figures.json').write_text(json.dumps(FIGURES, indent=1, default=str))

def part(name:str, out:Path, fn, *args):
    "Run one part; record its figures, its time and any failure; never stop the others."
    t0 = time.perf_counter()
    try: FIGURES[name] = {'figures': fn(*args), 'ok': True}
    except Exception: FIGURES[name] = {'ok': False, 'error': traceback.format_exc()[-3000:]}
    FIGURES[name]['seconds'] = round(time.perf_counter() - t0, 1)
    print(f"[{name}] {'ok' if FIGURES[name]['ok'] else 'FAILED'} in {FIGURES[name]['seconds']} s", flush=True)
    save(out)

def run_notebook(name:str, out:Path, flags:str, timeout:int=600) -> dict:
    "Execute nbs/name in a real kernel from nbs/, running the cells with `flags`; write the executed copy to OUT/nbs."
    import nbformat
    from nbclient import NotebookClient
    sys.path.insert(0, str(ROOT/'tools'))
    from run_notebooks import skipped
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    skip = set(cfg['DEFAULT'].get('tst_flags', '').split()) - set(flags.split())
    path = ROOT/'nbs'/name
    nb = nbformat.read(path, as_version=4)
    keep = [i for i, c in enumerate(nb.cells) if not skipped(c, skip)]
    sub = nbformat.from_dict({**nb, 'cells': [nb.cells[i] for i in keep]})
    t0 = time.perf_counter()
    NotebookClient(sub, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for i, c in zip(keep, sub.cells): nb.cells[i] = c
    (out/'nbs'/name).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out/'nbs'/name)
    flagged = [nb.cells[i] for i in keep if any(f in nb.cells[i].source.split('\n')[0] for f in ('#| gpu', '#| slow'))]
    texts = [o.get('text', '') for c in flagged for o in c.get('outputs', []) if o.get('output_type') == 'stream']
    return {'seconds': round(time.perf_counter() - t0, 1), 'flagged cells output': ''.join(texts)[-3000:]}

def decode(smoke:bool) -> dict:
    import torch
    from gpt_course.decoding import GraphDecoder
    from gpt_course.model import GPT
    from gpt_course.sampling import generate
    from gpt_course.training import gpt_config
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    torch.manual_seed(0)
    model = GPT(gpt_config('tiny' if smoke else 'gpt-10m', dropout=0.0)).to(device).eval()
    n = 50 if smoke else 500
    def timed(**how):
        start = torch.zeros(1, 1, dtype=torch.long, device=device)
        generate(model, start, 20, temperature=0.0, **how); sync()
        t = time.perf_counter(); toks = generate(model, start, n, temperature=0.0, **how); sync()
        return n / (time.perf_counter() - t), toks
    (u, a), (e, b) = timed(use_cache=False), timed()
    res = {'card': torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu (smoke)', 'new tokens': n,
           'uncached tokens/s': round(u), 'eager cache tokens/s': round(e), 'eager cache x': round(e / u, 2)}
    if device.type == 'cuda':
        g, c = timed(decoder=GraphDecoder(model))
        res.update({'CUDA graph tokens/s': round(g), 'CUDA graph x': round(g / u, 2), 'graph tokens equal eager cache': bool(torch.equal(b, c)),
                    'first differing token': None if torch.equal(b, c) else int((b != c).nonzero()[0, 1])})
    return res

T4_CHILD = r'''
import json, sys, time, torch
from dataclasses import replace
from gpt_course.estimate import DEVICE_PEAKS, measure_throughput, predict_peak, predict_time, step_time_on
from gpt_course.training import gpt_config, train_config
smoke, compile_ = sys.argv[1] == '1', sys.argv[2] == '1'
cuda = torch.cuda.is_available()
if cuda:
    torch.backends.cuda.enable_flash_sdp(False)                         # a T4 (sm75) has no flash attention kernel
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, 15 * 2**30 / total))
mc, tc = gpt_config('tiny' if smoke else 'gpt-10m'), train_config('tiny' if smoke else 'gpt-10m', precision='fp16' if cuda else 'fp32',
                                                                 compile=compile_ and cuda)
data = torch.randint(0, mc.vocab_size, (200_000,))
if cuda: torch.cuda.reset_peak_memory_stats()
m = measure_throughput(mc, tc, data, steps=5 if smoke else 40, warmup=2 if smoke else 10, eval_batches=2 if smoke else 10)
peak = torch.cuda.max_memory_allocated() if cuda else 0
name = torch.cuda.get_device_name() if cuda else 'cpu'
card = 'H200' if 'H200' in name else 'H100 SXM'
scale = DEVICE_PEAKS['T4']['fp16'] / DEVICE_PEAKS[card]['fp16']       # published dense fp16 peaks
print(json.dumps({'emulated T4 on': name, 'compile': tc.compile, 'precision': m['precision'], 'tokens/s': round(m['tokens_per_sec']),
                  'peak memory GiB': round(peak / 2**30, 2),
                  'memory model GiB (fp16, fused, 1-byte masks)': round(predict_peak(mc, tc, tc.batch_size, torch.device('cuda' if cuda else 'cpu')) / 2**30, 2),
                  'seed run predicted here, min': round(predict_time(tc, m['step_time'], m['eval_batch_time']) / 60, 1),
                  'T4 tokens/s if it scaled with fp16 peaks': round(m['tokens_per_sec'] * scale),
                  "lesson 08's T4 estimate at 10% MFU, min": round(predict_time(tc, step_time_on(mc, tc, 'T4', 'fp16', 0.1)) / 60, 1)}))
'''

def t4(smoke:bool) -> dict:
    out = {}
    for compile_ in (False, True):
        r = subprocess.run([sys.executable, '-c', T4_CHILD, '1' if smoke else '0', '1' if compile_ else '0'],
                           capture_output=True, text=True, timeout=300)
        out['compile on' if compile_ else 'compile off'] = (json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0
                                                           else {'error': r.stderr[-2000:]})
    return out

def timed_train(preset:str, seconds:float, seed:int, data_path:str, smoke:bool, **over) -> dict:
    "Our recipe for about `seconds` of training: max_iters from a short measurement, evaluation five times along the way."
    import torch
    from gpt_course.data import load_splits
    from gpt_course.estimate import measure_throughput
    from gpt_course.training import gpt_config, train, train_config
    splits = load_splits(data_path)
    mc, tc = gpt_config(preset, vocab_size=splits.tokenizer.vocab_size), train_config(preset, seed=seed, **over)
    m = measure_throughput(mc, tc, splits.train, steps=5, warmup=2, eval_batches=2)
    steps = max(10, int(seconds / m['step_time']))
    tc = train_config(preset, seed=seed, max_iters=steps, lr_decay_iters=steps, eval_interval=max(1, steps // 5),
                      eval_iters=20 if smoke else 100, out_dir=tempfile.mkdtemp(), **over)
    res = train(mc, tc, splits, progress=False)
    return {'preset': preset, 'seed': seed, 'steps': steps, 'training s': round(res.elapsed, 1), 'tokens/s': round(res.tokens_per_sec),
            'best val loss': round(res.best_val_loss, 4)}

def muon(seconds:float, seeds:int, data_path:str, smoke:bool) -> list:
    presets = ('tiny', 'tiny') if smoke else ('gpt-10m', 'gpt-10m-muon')
    runs = []
    for seed in range(seeds):
        for i, p in enumerate(presets):
            runs.append(timed_train(p, seconds, 1337 + seed, data_path, smoke, **({'optimizer': 'muon'} if smoke and i else {})))
    return runs

def nanogpt(path:Path, data_path:str, seconds:float, smoke:bool) -> dict:
    "nanoGPT's Shakespeare-char recipe for `seconds` of wall time in a scratch copy: its tokens/s and best val loss."
    work = Path(tempfile.mkdtemp())/'nanoGPT'
    shutil.copytree(path, work, ignore=shutil.ignore_patterns('.git', 'out*'))
    shutil.copy(data_path, work/'data'/'shakespeare_char'/'input.txt')
    subprocess.run([sys.executable, 'data/shakespeare_char/prepare.py'], cwd=work, check=True, capture_output=True)
    extra = (['--device=cpu', '--compile=False', '--eval_iters=5', '--eval_interval=10', '--max_iters=40', '--batch_size=4',
              '--block_size=32', '--n_layer=2', '--n_head=2', '--n_embd=32'] if smoke else ['--max_iters=100000', '--lr_decay_iters=5000'])
    cmd = [sys.executable, 'train.py', 'config/train_shakespeare_char.py', '--log_interval=10', *extra]
    t0, lines = time.perf_counter(), []
    p = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in p.stdout:
            lines.append(line.rstrip())
            if time.perf_counter() - t0 > seconds: break
    finally: p.kill(); p.wait()
    vals = [float(m.group(1)) for l in lines if (m := re.search(r'val loss ([\d.]+)', l))]
    ms = [float(re.search(r'time ([\d.]+)ms', l).group(1)) for l in lines if re.search(r'iter (\d+): loss', l)][3:]   # after warm-up
    tokens = 4 * 32 if smoke else 64 * 256
    return {'command': ' '.join(cmd[1:]), 'wall s': round(time.perf_counter() - t0, 1), 'best val loss': min(vals) if vals else None,
            'evaluations': len(vals), 'median ms/iter': sorted(ms)[len(ms) // 2] if ms else None,
            'tokens/s': round(tokens / (sorted(ms)[len(ms) // 2] / 1e3)) if ms else None, 'last lines': lines[-5:]}

def rest(out:Path, deadline:float, smoke:bool) -> dict:
    done = {}
    names = sorted(str(p.relative_to(ROOT/'nbs')) for p in (ROOT/'nbs').glob('**/*.ipynb') if not p.name.startswith('_')
                   and p.name not in ('06d_training.ipynb', '07b_decoding.ipynb') and '.ipynb_checkpoints' not in str(p))
    for name in names[:2] if smoke else names:
        if time.perf_counter() > deadline: done[name] = 'not run: out of time'; continue
        try: done[name] = run_notebook(name, out, 'slow gpu')['seconds']
        except Exception as e: done[name] = f"FAILED: {str(e)[-1500:]}"
        save(out)
    return done

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--data', default=os.environ.get('GPT_COURSE_DATA'), help='tinyshakespeare.txt (default: $GPT_COURSE_DATA)')
    p.add_argument('--nanogpt', type=Path, help='a nanoGPT checkout (part 5 is skipped without one)')
    p.add_argument('--budget', type=float, default=540, help='seconds for the whole run; part 6 uses what is left')
    p.add_argument('--smoke', action='store_true', help='every part on tiny settings, to test the script (on a CPU)')
    p.add_argument('--parts', default='seed,decode,t4,muon,nanogpt,rest')
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.data or not Path(a.data).exists(): sys.exit("--data: tinyshakespeare.txt is needed (no network here)")
    os.environ['GPT_COURSE_DATA'] = str(Path(a.data).resolve())
    t_start, parts = time.perf_counter(), a.parts.split(',')
    import torch
    FIGURES['machine'] = {'torch': torch.__version__, 'cuda': torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                          'smoke': a.smoke}
    if 'seed' in parts: part('seed', a.out, run_notebook, '06d_training.ipynb', a.out, '' if a.smoke else 'gpu')
    if 'decode' in parts:
        part('decode', a.out, decode, a.smoke)
        part('decode notebook', a.out, run_notebook, '07b_decoding.ipynb', a.out, '' if a.smoke else 'gpu')
    if 't4' in parts: part('t4', a.out, t4, a.smoke)
    if 'muon' in parts: part('muon', a.out, muon, 5 if a.smoke else 45, 1, a.data, a.smoke)
    if 'nanogpt' in parts and a.nanogpt:
        part('nanogpt', a.out, nanogpt, a.nanogpt, a.data, 10 if a.smoke else 75, a.smoke)
        part('ours at the same wall time', a.out, timed_train, 'tiny' if a.smoke else 'gpt-10m', 10 if a.smoke else 75, 1337, a.data, a.smoke)
    if 'rest' in parts: part('rest', a.out, rest, a.out, t_start + a.budget, a.smoke)
    FIGURES['total seconds'] = round(time.perf_counter() - t_start, 1); save(a.out)
    print(json.dumps(FIGURES, indent=1, default=str)[:6000])

if __name__ == '__main__': main()
