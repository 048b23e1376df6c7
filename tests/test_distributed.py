"""Data-parallel training under torchrun, what the lesson (06d) cannot show in a cell: `--resume` under torchrun
continues exactly, and kill -9 of one process ends the whole job (no hang) with the last checkpoint intact.
Two CPU processes on gloo, the tiny model; lesson 06d proves 2 x B == 1 x 2B."""
import json, os, signal, subprocess, sys, time
import pytest, torch
from gpt_course.checkpoint import load_checkpoint

COMMON = ['--preset', 'tiny', '--eval-interval', '6', '--eval-iters', '2', '--log-interval', '1', '--dropout', '0.1',
          '--compile', 'false', '--sample-chars', '0', '--device', 'cpu', '--batch-size', '4', '--lr-decay-iters', '12']
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '-m', 'gpt_course.cli', 'train']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}

def torchrun(*args, timeout=300):
    r = subprocess.run([*TORCHRUN, *COMMON, *args], capture_output=True, text=True, timeout=timeout, env=ENV)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r

def test_resume_under_torchrun_is_exact(tmp_path):
    "Stop a 2-process run at step 6, resume it to 12: the same weights and losses as 12 steps without a stop."
    torchrun('--max-iters', '12', '--out', str(tmp_path/'full'))
    torchrun('--max-iters', '6', '--out', str(tmp_path/'split'))
    ck = load_checkpoint(tmp_path/'split'/'last.pt')
    assert ck['iter'] == 6 and len(ck['rng_ranks']) == 2                       # every process's random state
    assert not torch.equal(ck['rng_ranks'][0]['torch'], ck['rng_ranks'][1]['torch'])   # dropout differs by rank
    torchrun('--max-iters', '12', '--resume', '--out', str(tmp_path/'split'))
    a, b = load_checkpoint(tmp_path/'full'/'last.pt')['model'], load_checkpoint(tmp_path/'split'/'last.pt')['model']
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [[r['loss'] for r in map(json.loads, open(p/'metrics.jsonl')) if 'loss' in r] for p in (tmp_path/'full', tmp_path/'split')]
    assert losses[0] == losses[1] and len(losses[0]) == 12                    # every step logged once, same values

def test_kill_one_process_ends_the_job(tmp_path):
    "kill -9 of one worker: torchrun stops the other and exits non-zero, without waiting out a hang."
    out = tmp_path/'run'
    p = subprocess.Popen([*TORCHRUN, *COMMON, '--max-iters', '100000', '--checkpoint-interval', '20', '--out', str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (out/'last.pt').exists() and time.time() < deadline: time.sleep(0.5)
        assert (out/'last.pt').exists(), 'the run never saved a checkpoint'
        workers = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2, workers
        os.kill(int(workers[1]), signal.SIGKILL)
        t = time.time()
        rc = p.wait(timeout=90)
        assert rc != 0 and time.time() - t < 90
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
    assert load_checkpoint(out/'last.pt')['iter'] % 20 == 0                   # the last good checkpoint is whole
