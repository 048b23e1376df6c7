"""Issue 27, "nothing lost, second battery": every case the hostile run of 480 cases found, each with its test.
Tiny runs, real processes where the fault needs one (a lock held elsewhere, many processes at once, a pipe closed early)."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from gpt_course.checkpoint import RunLock, RunLockedError, load_checkpoint, read_metrics, remove_stale_temporaries
from gpt_course.cli import main
from gpt_course.training import gpt_config, train, train_config

from test_faults import CLI, ENV, TINY, cli, run   # the first battery's helpers (issue 10): the same tiny runs, in-process CLI

def files(out): return {p.name: p.read_bytes() for p in Path(out).iterdir() if p.is_file() and p.name != 'train.lock'}

# Data lost
def test_resume_never_replaces_a_better_best(splits, tmp_path):
    "best.pt may be newer than last.pt (a kill between the two saves of a step): resume reads its loss, and never writes a worse one."
    run(splits, tmp_path, max_iters=10, eval_interval=5, checkpoint_interval=10)
    best = load_checkpoint(tmp_path/'best.pt')
    last = torch.load(tmp_path/'last.pt', weights_only=True)
    last['best_val_loss'] = best['best_val_loss'] + 1.0                 # as if last.pt had been saved before best.pt...
    torch.manual_seed(0)
    last['model'] = {k: v + 0.05 * torch.randn_like(v) for k, v in last['model'].items()}   # ...from a worse model
    torch.save(last, tmp_path/'last.pt')
    before = (tmp_path/'best.pt').read_bytes()
    res = train(gpt_config('tiny'), train_config('tiny', max_iters=11, eval_interval=5, eval_iters=2, out_dir=str(tmp_path), device='cpu',
                                                  checkpoint_interval=10), splits, resume=True, progress=False)
    assert best['best_val_loss'] < res.last_eval['val'] < best['best_val_loss'] + 1.0   # worse than best.pt, better than last.pt claimed
    assert (tmp_path/'best.pt').read_bytes() == before and res.best_val_loss == best['best_val_loss']

def test_only_the_courses_own_temporaries_are_deleted(splits, tmp_path):
    mine = ['.notes.12.tmp', '.thesis.tex.4242.tmp', 'a.tmp', '.x.99.tmp']
    for n in mine: (tmp_path/n).write_text('keep me')
    (tmp_path/'.last.pt.4242.tmp').write_bytes(b'half a save')
    run(splits, tmp_path, max_iters=2, eval_interval=2)
    assert all((tmp_path/n).read_text() == 'keep me' for n in mine) and not (tmp_path/'.last.pt.4242.tmp').exists()

def test_a_folder_with_other_files_keeps_them(capsys, tmp_path):
    "--out . (or ~): a folder full of a user's files loses none of them, even with --overwrite."
    for n in ('essay.txt', 'model.pt', 'data.jsonl', '.hidden.1.tmp'): (tmp_path/n).write_text(n)
    for n in ('best.pt', 'last.pt', 'metrics.jsonl'): (tmp_path/n).write_text('an old run')   # replaced: only the course's files
    rc, _, _ = cli(capsys, 'train', *TINY, '--max-iters', '4', '--eval-interval', '2', '--out', tmp_path, '--overwrite')
    assert rc == 0 and all((tmp_path/n).read_text() == n for n in ('essay.txt', 'model.pt', 'data.jsonl', '.hidden.1.tmp'))

HOLD = """import sys, time
from gpt_course.checkpoint import RunLock, RunLockedError
try:
    with RunLock(sys.argv[1]):
        print('held', flush=True); time.sleep(float(sys.argv[2]))
except RunLockedError: print('refused', flush=True)
"""

def _try_lock(folder, barrier, results):
    "A forked process: wait for the others, then try to take the lock and hold it for a moment."
    barrier.wait()
    try:
        with RunLock(folder): results.put('held'); time.sleep(0.5)
    except RunLockedError: results.put('refused')

def test_many_processes_at_once_one_holder(tmp_path):
    "Eight processes try to take the same folder's lock at the same instant, ten times over: exactly one holds it each time."
    import multiprocessing as mp
    ctx = mp.get_context('fork')                                              # forked: torch is already imported, starting is instant
    for trial in range(10):
        d = tmp_path/f'run{trial}'; d.mkdir()
        if trial % 2: (d/'train.lock').write_text(json.dumps({'pid': 999999, 'host': 'gone'}))   # a dead run's file
        barrier, results = ctx.Barrier(8), ctx.Queue()
        ps = [ctx.Process(target=_try_lock, args=(d, barrier, results)) for _ in range(8)]
        for q in ps: q.start()
        for q in ps: q.join(30)
        answers = sorted(results.get(timeout=5) for _ in ps)
        assert answers.count('held') == 1 and answers.count('refused') == 7, answers

# Tracebacks
CORRUPT = ['42', '[1,2]', 'null', '{"pid": "abc"}', '{"pid": 3.5}', '{"pid": 123456789012345678901}', '', '\x00\xff garbage']

def test_a_corrupted_lock_file_is_no_crash(capsys, tmp_path):
    "Whatever a lock file holds, it is only a name on a file the operating system locks: never a crash."
    for content in CORRUPT:
        (tmp_path/'train.lock').write_text(content)
        with RunLock(tmp_path): pass
        RunLock.check(tmp_path)
    (tmp_path/'train.lock').write_text('{"pid": "abc"}')
    rc, _, _ = cli(capsys, 'train', *TINY, '--max-iters', '2', '--eval-interval', '2', '--out', tmp_path)
    assert rc == 0 and (tmp_path/'last.pt').exists()

def test_a_held_lock_is_refused_at_once(capsys, tmp_path):
    "A second run on a busy folder is refused before it measures anything (the refusal used to take 34 s)."
    script = tmp_path/'hold.py'; script.write_text(HOLD)
    holder = subprocess.Popen([sys.executable, str(script), str(tmp_path), '30'], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == 'held'
        t = time.perf_counter()
        rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '2', '--out', tmp_path)
        assert rc == 2 and 'in use by another training run' in err and time.perf_counter() - t < 10
    finally: holder.kill(); holder.wait()

def _forge(src, dst, edit):
    ck = torch.load(src, weights_only=True); edit(ck); torch.save(ck, dst)

@pytest.fixture(scope='module')
def good(splits, tmp_path_factory):
    out = tmp_path_factory.mktemp('good')
    run(splits, out)
    return out

def _nan(ck):
    ck['model']['transformer.wte.weight'][0, 0] = float('nan')

@pytest.mark.parametrize('name,edit,msg', [
    ('nan', _nan, 'NaN or infinite'),
    ('context', lambda ck: ck['model_config'].update(block_size=10**12), 'do not fit'),
    ('layers', lambda ck: ck['model_config'].update(n_layer=10**7), 'not n_layer=10000000'),
])
def test_checkpoints_that_used_to_crash_sample(capsys, good, tmp_path, name, edit, msg):
    _forge(good/'last.pt', tmp_path/f'{name}.pt', edit)
    t = time.perf_counter()
    rc, out, err = cli(capsys, 'sample', '--ckpt', tmp_path/f'{name}.pt', '--max-new-tokens', '5')
    assert rc == 2 and msg in err and out == '' and time.perf_counter() - t < 20, err

@pytest.mark.parametrize('t', ['1e-46', '1e-320', '5e-324'])
def test_a_temperature_too_small_for_fp32_is_greedy(capsys, good, t):
    rc, out, _ = cli(capsys, 'sample', '--ckpt', good/'last.pt', '--max-new-tokens', '20', '--temperature', t, '--seed', '1')
    rc0, greedy, _ = cli(capsys, 'sample', '--ckpt', good/'last.pt', '--max-new-tokens', '20', '--temperature', '0')
    assert rc == rc0 == 0 and out == greedy

@pytest.mark.parametrize('name,edit,msg', [
    ('iter', lambda ck: ck.update(iter='7'), "its iter is '7'"),
    ('negative', lambda ck: ck.update(iter=-3), 'its iter is -3'),
    ('rng', lambda ck: ck['rng'].pop('numpy'), 'random state lacks numpy'),
    ('best', lambda ck: ck.update(best_val_loss='low'), "best_val_loss is 'low'"),
])
def test_resume_from_a_forged_checkpoint(capsys, good, tmp_path, name, edit, msg):
    out = tmp_path/name; out.mkdir()
    for n in ('best.pt', 'metrics.jsonl'): (out/n).write_bytes((good/n).read_bytes())
    _forge(good/'last.pt', out/'last.pt', edit)
    before = files(out)
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '12', '--eval-interval', '5', '--out', out, '--resume')
    assert rc == 2 and msg in err and files(out) == before, err

def test_resume_with_a_metrics_line_that_is_not_a_record(capsys, good, tmp_path):
    out = tmp_path/'m'; out.mkdir()
    for n in ('best.pt', 'last.pt'): (out/n).write_bytes((good/n).read_bytes())
    (out/'metrics.jsonl').write_text('{"step": 5, "loss": 3.0}\n[1, 2, 3]\n{"step": 10, "loss": 2.9}\n')
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '12', '--eval-interval', '5', '--out', out, '--resume')
    assert rc == 2 and 'line 2, is not a metrics record' in err

@pytest.mark.parametrize('seed', [str(2**64 - 1), str(2**70), str(-2**63 - 1), '-1'])
def test_seeds_out_of_range(capsys, tmp_path, seed):
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '2', '--out', tmp_path, '--seed', seed)
    assert rc == 2 and 'TrainConfig.seed' in err and '--seed' in err and not (tmp_path/'last.pt').exists()

def test_out_of_memory_on_a_cpu_is_a_clear_error(capsys, tmp_path):
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '2', '--out', tmp_path, '--batch-size', str(2**40))
    assert rc == 2 and ('out of memory' in err or 'TrainConfig.batch_size' in err) and '--batch-size' in err

def test_ctrl_c_while_torch_loads_exits_130_quietly(tmp_path):
    "Ctrl-C in the first second, while the imports run: exit status 130 and no traceback."
    for delay in (0.5, 0.9, 1.3):                          # after the interpreter itself has started: while torch loads
        p = subprocess.Popen(CLI + ['estimate'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        time.sleep(delay); p.send_signal(signal.SIGINT)
        o, e = p.communicate(timeout=60)
        assert p.returncode in (130, 0) and 'Traceback' not in e, (delay, p.returncode, e)   # 0: it had already finished

# Silent changes of the run
def test_resume_on_other_data_or_settings_is_refused_unless_allowed(capsys, tmp_path):
    data = Path(os.environ['GPT_COURSE_DATA']).read_text()
    (tmp_path/'a.txt').write_text(data[:200_000])
    (tmp_path/'b.txt').write_text('\n'.join(reversed(data[:200_000].split('\n'))))    # other text, the same characters
    out = tmp_path/'run'
    base = ['train', *TINY, '--eval-interval', '5', '--out', out]
    assert cli(capsys, *base, '--max-iters', '5', '--data', tmp_path/'a.txt')[0] == 0
    before = files(out)
    rc, _, err = cli(capsys, *base, '--max-iters', '10', '--data', tmp_path/'b.txt', '--resume')
    assert rc == 2 and 'data=' in err and '--allow-changes' in err and files(out) == before
    for flag, value, shown in [('--batch-size', '8', 'batch_size=16, now 8'), ('--learning-rate', '0.01', 'learning_rate=0.003, now 0.01'),
                               ('--seed', '7', 'seed=1337, now 7')]:
        rc, _, err = cli(capsys, *base, '--max-iters', '10', '--data', tmp_path/'a.txt', '--resume', flag, value)
        assert rc == 2 and shown in err and files(out) == before, err
    rc, _, _ = cli(capsys, *base, '--max-iters', '10', '--data', tmp_path/'a.txt', '--resume', '--batch-size', '8', '--allow-changes')
    assert rc == 0
    changed = [r for r in read_metrics(out) if 'resumed_with_changes' in r]
    assert changed and changed[0]['resumed_with_changes']['batch_size'] == [16, 8]

def test_overwrite_keeps_the_old_run_until_the_new_one_saves(capsys, good, tmp_path):
    out = tmp_path/'run'; out.mkdir()
    for n in ('best.pt', 'last.pt', 'metrics.jsonl'): (out/n).write_bytes((good/n).read_bytes())
    before = files(out)
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '5', '--out', out, '--overwrite', '--learning-rate', '1e30', '--min-lr', '0',
                     '--checkpoint-interval', '1')
    assert rc == 2 and 'diverged' in err and files(out) == before and not (out/'.previous').exists()

def test_overwrite_killed_before_it_saved_gets_the_old_run_back(good, tmp_path):
    out = tmp_path/'run'; out.mkdir()
    for n in ('best.pt', 'last.pt', 'metrics.jsonl'): (out/n).write_bytes((good/n).read_bytes())
    before = files(out)
    p = subprocess.Popen(CLI + ['train', *TINY, '--max-iters', '100000', '--eval-interval', '100000', '--out', str(out), '--overwrite'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    t = time.time()
    while not (out/'.previous').exists() and time.time() - t < 60: time.sleep(0.05)
    time.sleep(0.5); p.kill(); p.wait()                                        # kill -9 before its first save
    assert (out/'.previous').exists() and not (out/'last.pt').exists()
    rc = subprocess.run(CLI + ['train', *TINY, '--max-iters', '12', '--eval-interval', '5', '--out', str(out), '--resume'],
                        capture_output=True, text=True, env=ENV)
    assert rc.returncode == 0, rc.stderr                                       # the old run came back, and continued
    assert load_checkpoint(out/'last.pt')['iter'] == 12

# Unclear messages and circular advice
def test_only_best_pt_points_to_it(capsys, good, tmp_path):
    out = tmp_path/'run'; out.mkdir(); (out/'best.pt').write_bytes((good/'best.pt').read_bytes())
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '12', '--out', out, '--resume')
    assert rc == 2 and 'best.pt is there and fine' in err

def test_a_broken_last_pt_mentions_a_good_best_pt(capsys, good, tmp_path):
    out = tmp_path/'run'; out.mkdir()
    (out/'best.pt').write_bytes((good/'best.pt').read_bytes()); (out/'last.pt').write_bytes((good/'last.pt').read_bytes()[:300])
    rc, _, err = cli(capsys, 'train', *TINY, '--max-iters', '12', '--out', out, '--resume')
    assert rc == 2 and 'truncated' in err and 'best.pt is fine' in err

def test_utf16_text_is_called_utf16(capsys, tmp_path):
    (tmp_path/'u16.txt').write_bytes(('To be, or not to be.\n' * 400).encode('utf-16'))
    rc, _, err = cli(capsys, 'train', *TINY, '--data', tmp_path/'u16.txt', '--out', tmp_path/'o')
    assert rc == 2 and 'UTF-16' in err and 'iconv -f utf-16' in err

def test_interrupted_before_the_first_evaluation_says_so(tmp_path):
    out = tmp_path/'run'
    p = subprocess.Popen(CLI + ['train', *TINY, '--max-iters', '100000', '--eval-interval', '100000', '--log-interval', '1', '--out', str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    t = time.time()
    while not ((out/'metrics.jsonl').exists() and (out/'metrics.jsonl').read_text().count('\n') >= 3) and time.time() - t < 60: time.sleep(0.05)
    p.send_signal(signal.SIGTERM); o, e = p.communicate(timeout=60)
    assert p.returncode == 143 and 'no evaluation yet' in o and 'nan' not in o and 'Traceback' not in e, (o, e)

def test_piping_train_into_head_finishes_the_run(tmp_path):
    out = tmp_path/'run'
    p = subprocess.run(' '.join([*map(lambda a: f"'{a}'", CLI), 'train', *TINY, '--max-iters', '30', '--eval-interval', '10',
                                 '--sample-chars', '200', '--out', str(out), '| head -1']), shell=True, capture_output=True, text=True, env=ENV)
    assert p.stdout.startswith('preset tiny') and 'Traceback' not in p.stderr and 'Broken pipe' not in p.stderr
    assert load_checkpoint(out/'last.pt')['iter'] == 30

# Speed: the stream no longer copies the whole history for every token
def test_stream_keeps_a_bounded_window(monkeypatch):
    "Each new token is appended to a window of at most block_size tokens, not to the whole history (which made long samples slow)."
    from gpt_course.model import GPT, GPTConfig
    from gpt_course.sampling import stream
    m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8, dropout=0.0)).eval()
    widest, cat = [0], torch.cat
    def watching(ts, dim=0, **kw):
        widest[0] = max(widest[0], sum(t.shape[dim] for t in ts) if dim in (1, -1) else 0)
        return cat(ts, dim=dim, **kw)
    monkeypatch.setattr(torch, 'cat', watching)
    n = sum(1 for _ in stream(m, torch.zeros(1, 1, dtype=torch.long, device='cpu'), 500, temperature=0))
    assert n == 500 and widest[0] <= m.config.block_size + 1
