"""Benchmarks behind the figures in the README and the issue notes. Run on an otherwise idle machine.

    python tools/benchmark.py train-cpu      # the cpu preset vs the lecture-sized (nanoGPT CPU recipe) baseline
    python tools/benchmark.py train-10m      # gpt-10m on this device: s/step, tokens/s, peak memory
    python tools/benchmark.py sampling       # gpt-10m, batch 1, 500 new tokens: full recompute, KV cache, compiled step
    python tools/benchmark.py ddp            # tokens/s of `gpt-course train` on 1 and 2 processes (torchrun, gloo on CPU)
    python tools/benchmark.py all

Each measurement runs in its own child process, which reports its own peak memory (max RSS). Data comes from
$GPT_COURSE_DATA (or the cache); on a GPU machine add --device cuda to train-10m and sampling.
"""
import argparse, json, resource, subprocess, sys, time

def child(kind:str, opts:dict) -> dict:
    "Run one measurement in a fresh Python process; return its JSON result plus its peak RSS."
    r = subprocess.run([sys.executable, __file__, '--child', kind, json.dumps(opts)], capture_output=True, text=True)
    if r.returncode: sys.exit(f"{kind} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def run_child(kind:str, opts:dict):
    import torch
    from gpt_course.data import load_splits
    from gpt_course.devices import resolve_device
    from gpt_course.model import GPT
    from gpt_course.training import gpt_config, train, train_config
    from gpt_course.devices import autocast_context, choose_precision
    from gpt_course.training import estimate_loss
    splits = load_splits()
    if kind == 'train':   # a whole run through `train`, then the val loss over 200 batches
        import tempfile
        mcfg = gpt_config(opts['preset'], **opts.get('model', {}))
        tcfg = train_config(opts['preset'], out_dir=tempfile.mkdtemp(), **opts.get('train', {}))
        t0 = time.perf_counter()
        res = train(mcfg, tcfg, splits, progress=False)
        wall = time.perf_counter() - t0
        dev = resolve_device(tcfg.device)
        ctx = autocast_context(dev, choose_precision(dev, tcfg.precision))
        with ctx: val200 = estimate_loss(res.model, {'val': splits.val}, mcfg.block_size, tcfg.batch_size, 200, dev)['val']
        return dict(preset=opts['preset'], params=res.model.num_params(), steps=res.iters, train_s=res.elapsed,
                    wall_s=wall, tokens_per_sec=res.tokens_per_sec, val200=val200)
    if kind == 'steps':   # timed training steps of a config (the code path `train` uses)
        from gpt_course.estimate import measure_throughput
        mcfg = gpt_config(opts['preset'], **opts.get('model', {}))
        tcfg = train_config(opts['preset'], **opts.get('train', {}))
        b = measure_throughput(mcfg, tcfg, splits.train, steps=opts.get('steps', 3), warmup=1, eval_batches=1)
        return dict(b, batch=tcfg.batch_size, grad_accum=tcfg.grad_accum)
    if kind == 'sample':
        from gpt_course.sampling import generate
        dev = torch.device(opts.get('device', 'cpu'))
        torch.manual_seed(opts.get('seed', 0))                                  # the same random weights every run
        model = GPT(gpt_config('gpt-10m')).to(dev).eval()
        out = {}
        start = torch.zeros(1, 1, dtype=torch.long, device=dev)
        for name, use_cache, compile, dtype in [('uncached', False, False, torch.float32), ('cached', True, False, torch.float32),
                                                ('compiled', True, True, torch.float32), ('cached_bf16', True, False, torch.bfloat16),
                                                ('compiled_bf16', True, True, torch.bfloat16)]:
            model = model.to(dtype)
            t = time.perf_counter()
            generate(model, start, 20, use_cache=use_cache, compile=compile)      # warm-up (compiles, if asked)
            if compile: out[name + '_warmup_s'] = time.perf_counter() - t
            t = time.perf_counter()
            out[name + '_tokens'] = generate(model, start, opts['n'], temperature=0, use_cache=use_cache, compile=compile).tolist()
            if dev.type == 'cuda': torch.cuda.synchronize()
            out[name] = opts['n'] / (time.perf_counter() - t)
        # greedy tokens: the cache must match full recompute while the context fits (past it, the loops differ by
        # design: the cache refills from half a window), and the compiled step the plain cached one all the way
        first = model.config.block_size - 1
        def same(a, b):   # True, or the first new token where they part
            return a == b or next(i for i, (x, y) in enumerate(zip(a[0][1:], b[0][1:])) if x != y)
        out['cached_same'] = same([out['cached_tokens'][0][:first + 1]], [out['uncached_tokens'][0][:first + 1]])
        out['compiled_same'] = same(out.pop('compiled_tokens'), out.pop('cached_tokens'))
        out['compiled_bf16_same'] = same(out.pop('compiled_bf16_tokens'), out.pop('cached_bf16_tokens'))
        out.pop('uncached_tokens')
        return out
    raise ValueError(kind)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('what', choices=['train-cpu', 'train-10m', 'sampling', 'ddp', 'all'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--new-tokens', type=int, default=500)
    p.add_argument('--seed', type=int, default=0, help='seed of the random weights (sampling)')
    a = p.parse_args()
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}")
    if a.what in ('train-cpu', 'all'):
        print("== training on CPU: wall time, tokens/s, val loss over 200 batches")
        for name in ('nanogpt-cpu', 'cpu'):
            r = child('train', dict(preset=name, train=dict(device='cpu')))
            print(f"  {name:12s} {r['params']/1e6:.2f}M params, {r['steps']} steps: train {r['train_s']:.1f} s, "
                  f"{r['tokens_per_sec']:,.0f} tokens/s, val loss (200 batches) {r['val200']:.4f}", flush=True)
    if a.what in ('train-10m', 'all'):
        print("== gpt-10m (batch 64, block 256, dropout 0.2): seconds per step, tokens/s, peak memory")
        variants = [('fp32, batch 64', dict(precision='fp32')),
                    ('fp32, 2 x 32', dict(precision='fp32', batch_size=32, grad_accum=2)),
                    ('bf16, batch 64', dict(precision='bf16')),
                    ('bf16, 2 x 32', dict(precision='bf16', batch_size=32, grad_accum=2))]
        for label, tr in variants:
            if a.device != 'cpu': tr = {**tr, 'precision': 'auto'} if 'fp32' in label else tr
            r = child('steps', dict(preset='gpt-10m', train=dict(tr, device=a.device), steps=3))
            print(f"  {label:15s} ({r['precision']}): {r['step_time']:.2f} s/step, {r['tokens_per_sec']:,.0f} tokens/s, "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)
    if a.what in ('ddp', 'all'): ddp_throughput(a.device)
    if a.what in ('sampling', 'all'):
        r = child('sample', dict(n=a.new_tokens, device=a.device, seed=a.seed))
        u = r['uncached']
        print(f"== sampling gpt-10m, batch 1, {a.new_tokens} new tokens, greedy; tokens/s and multiple of the uncached loop")
        print(f"  uncached (full recompute)     {u:7,.1f}")
        for name, label in [('cached', 'KV cache'), ('compiled', 'KV cache, compiled step'),
                            ('cached_bf16', 'KV cache, bf16 weights'), ('compiled_bf16', 'compiled step, bf16 weights')]:
            same = {'cached': 'same tokens as uncached while the context fits', 'compiled': 'same tokens as the KV cache',
                    'compiled_bf16': 'same tokens as the bf16 KV cache'}.get(name)
            extra = [f"compile warm-up {r[name + '_warmup_s']:.1f} s"] if name + '_warmup_s' in r else []
            extra += [same if r[name + '_same'] is True else f"parts from it at new token {r[name + '_same']}"] if same else []
            print(f"  {label:29s} {r[name]:7,.0f}  {r[name] / u:5.1f}x  {'; '.join(extra)}")

def ddp_throughput(device:str):
    "Training tokens/s of the cpu and gpt-10m presets on 1 and 2 processes, same global batch, whole-command runs."
    import re, tempfile, os
    print("== data-parallel training: tokens/s, 1 process vs 2 (global batch the same; per-process batch halved)")
    for preset, batch, steps in [('cpu', 24, 300), ('gpt-10m', 64, 4)]:
        for n in (1, 2):
            cmd = ([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={n}'] if n > 1 else [sys.executable])
            cmd += ['-m', 'gpt_course.cli', 'train', '--preset', preset, '--batch-size', str(batch // n), '--max-iters', str(steps),
                    '--eval-interval', str(steps), '--eval-iters', '1', '--sample-chars', '0', '--compile', 'false',
                    '--device', device, '--out', tempfile.mkdtemp()]
            env = {**os.environ, 'OMP_NUM_THREADS': str(max(1, (os.cpu_count() or 2) // n))}
            t = time.perf_counter(); r = subprocess.run(cmd, capture_output=True, text=True, env=env); wall = time.perf_counter() - t
            m = re.search(r'steps in .*?\(([\d,]+) tokens/s', r.stdout)
            tps = m.group(1) if m else f'failed: {r.stderr[-300:]}'
            print(f"  {preset:8s} {n} process(es) x batch {batch // n:2d}: {tps} tokens/s (training loop), {wall:.0f} s whole command", flush=True)

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        out = run_child(sys.argv[2], json.loads(sys.argv[3]))
        out['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # this process's peak (KiB -> GiB)
        print(json.dumps(out)); sys.exit(0)
    main()
