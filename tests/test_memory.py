"""Issue 23: the memory model against measured peaks, batch_size='auto' under a budget, recovery from running out of memory
(nothing lost, the checkpoint records the split, resume exact), and `gpt-course doctor`."""
import contextlib, io, json
import pytest, torch
from gpt_course.cli import main
from gpt_course.estimate import fit_batch, predict_peak, step_memory
from gpt_course.model import GPT
from gpt_course.checkpoint import load_checkpoint, read_metrics
from gpt_course.training import TrainConfig, gpt_config, train, train_config

def call(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def test_auto_is_a_spelling_of_the_preset_batch_in_micro_batches():
    assert (TrainConfig(batch_size='auto').batch_size, TrainConfig(batch_size='auto').auto_batch) == (64, True)
    c = train_config('cpu', batch_size='auto')
    assert (c.batch_size, c.auto_batch) == (24, True)
    with pytest.raises(ValueError, match='memory_budget'): TrainConfig(memory_budget=0)
    with pytest.raises(ValueError, match='batch_size'): TrainConfig(batch_size='big')

@pytest.mark.parametrize('preset,batch', [('tiny', 16), ('cpu', 24)])
def test_the_model_predicts_the_measured_peak(preset, batch):
    mc, tc = gpt_config(preset), train_config(preset, device='cpu', precision='fp32')
    predicted, measured = predict_peak(mc, tc, batch, torch.device('cpu')), step_memory(mc, tc, batch, 'cpu')
    assert abs(predicted / measured - 1) < 0.15, (predicted, measured)

def test_fit_batch_honours_a_budget_and_keeps_the_update():
    mc, tc = gpt_config('tiny'), train_config('tiny', device='cpu', batch_size=16, grad_accum=2)
    for budget in (0.0022, 0.003, 1.0):
        fitted = fit_batch(mc, TrainConfig(**{**tc.__dict__, 'memory_budget': budget}))
        assert fitted.batch_size * fitted.grad_accum == 32
        assert step_memory(mc, fitted, fitted.batch_size, 'cpu') <= budget * 2**30
    assert fit_batch(mc, TrainConfig(**{**tc.__dict__, 'memory_budget': 1.0})).batch_size == 32    # room: one micro-batch
    with pytest.raises(ValueError, match=r'more memory \(memory_budget\)'): fit_batch(mc, TrainConfig(**{**tc.__dict__, 'memory_budget': 1e-5}))

FORWARD = GPT.forward
def OutOfMemoryAbove(most):
    "GPT.forward raising CUDA's out-of-memory error on training micro-batches of more than `most` sequences, as a small GPU would."
    def forward(model, idx, targets=None, *a, **k):
        if idx.shape[0] > most and model.training: raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return FORWARD(model, idx, targets, *a, **k)
    return forward

def test_out_of_memory_halves_the_micro_batch_and_loses_nothing(splits, tmp_path, monkeypatch):
    mc = gpt_config('tiny')
    common = dict(max_iters=6, eval_interval=3, eval_iters=2, device='cpu')
    fixed = train(mc, train_config('tiny', batch_size=4, grad_accum=4, out_dir=str(tmp_path/'fixed'), **common), splits, progress=False)
    monkeypatch.setattr(GPT, 'forward', OutOfMemoryAbove(4))
    auto = train(mc, train_config('tiny', batch_size='auto', out_dir=str(tmp_path/'auto'), **common), splits, progress=False)
    assert auto.iters == 6
    for a, b in zip(fixed.model.state_dict().values(), auto.model.state_dict().values()): assert torch.equal(a, b)   # the same run
    saved = load_checkpoint(tmp_path/'auto'/'last.pt')['train_config']
    assert (saved['batch_size'], saved['grad_accum'], saved['auto_batch']) == (4, 4, True)
    oom = [r for r in read_metrics(tmp_path/'auto'/'metrics.jsonl') if r.get('out_of_memory')]
    assert [(r['step'], r['batch_size'], r['grad_accum']) for r in oom] == [(0, 8, 2), (0, 4, 4)]

def test_a_fixed_batch_size_still_stops_on_out_of_memory(splits, tmp_path, monkeypatch):
    monkeypatch.setattr(GPT, 'forward', OutOfMemoryAbove(4))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        train(gpt_config('tiny'), train_config('tiny', max_iters=2, out_dir=str(tmp_path/'r'), device='cpu'), splits, progress=False)
    rc, _, err = call('train', '--preset', 'tiny', '--max-iters', '2', '--out', tmp_path/'cli', '--device', 'cpu', '--sample-chars', '0')
    assert rc == 2 and '--batch-size auto' in err and 'Traceback' not in err

def test_resume_with_auto_continues_the_split_it_found(splits, tmp_path, monkeypatch):
    mc = gpt_config('tiny')
    monkeypatch.setattr(GPT, 'forward', OutOfMemoryAbove(4))
    cfg = lambda n: train_config('tiny', batch_size='auto', max_iters=n, eval_interval=3, eval_iters=2, out_dir=str(tmp_path/'a'), device='cpu')
    whole = train(mc, train_config('tiny', batch_size='auto', max_iters=6, eval_interval=3, eval_iters=2, out_dir=str(tmp_path/'w'),
                                   device='cpu'), splits, progress=False)
    train(mc, cfg(3), splits, progress=False)
    monkeypatch.setattr(GPT, 'forward', OutOfMemoryAbove(100))           # a resumed run need not run out again: it uses the saved split
    resumed = train(mc, cfg(6), splits, resume=True, progress=False)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()): assert torch.equal(a, b)
    assert load_checkpoint(tmp_path/'a'/'last.pt')['train_config']['batch_size'] == 4

def test_cli_batch_size_auto_and_budget(tmp_path):
    rc, out, err = call('train', '--preset', 'tiny', '--batch-size', 'auto', '--memory-budget', '0.0022', '--max-iters', '2',
                        '--eval-iters', '1', '--out', tmp_path/'r', '--sample-chars', '0', '--device', 'cpu')
    assert rc == 0, err
    assert 'batch_size auto:' in out
    rc, _, err = call('train', '--preset', 'tiny', '--batch-size', 'auto', '--memory-budget', '0.00001', '--out', tmp_path/'s', '--device', 'cpu')
    assert rc == 2 and 'more memory (memory_budget)' in err and '--memory-budget' in err and 'Traceback' not in err

def test_doctor_reports_as_text_and_json():
    rc, out, err = call('doctor', '--quick')
    assert rc == 0 and 'native bf16' in out and 'recipes:' in out, err
    rc, out, _ = call('doctor', '--quick', '--json')
    d = json.loads(out)
    assert rc == 0 and d['cpu']['kernels'] == torch.backends.cpu.get_cpu_capability()
    assert set(d['recipes']) == {'gpt-10m', 'cpu'} and d['recipes']['cpu']['memory GiB'] > 0

def test_estimate_prints_memory():
    rc, out, _ = call('estimate', '--preset', 'gpt-10m', '--device-name', 'T4')
    assert rc == 0 and 'memory of a training step of 64 sequences' in out and 'GiB' in out
