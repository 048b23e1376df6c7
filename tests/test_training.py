"""Training: exact resume, NaN stop, Ctrl-C, checkpoint safety, precision choice, compile fallback."""
import os, signal
import pytest, torch
import gpt_course.training as training
from gpt_course.model import gpt_config
from gpt_course.training import (CheckpointError, TrainConfig, choose_precision, get_lr, load_checkpoint,
                                 model_from_checkpoint, read_metrics, train, train_config)

def _run(splits, out, max_iters=24, stop_at=None, resume=False, **kw):
    def cb(step, loss, model):
        if step == stop_at: os.kill(os.getpid(), signal.SIGINT)
    cfg = train_config('tiny', max_iters=max_iters, eval_interval=10, eval_iters=2, out_dir=str(out), **kw)
    return train(gpt_config('tiny', dropout=0.1), cfg, splits, resume=resume, progress=False, callback=cb)

def test_resume_is_bit_exact(splits, tmp_path):
    full = _run(splits, tmp_path/'a')
    part = _run(splits, tmp_path/'b', stop_at=13)
    assert part.interrupted and part.iters == 13 and load_checkpoint(tmp_path/'b'/'last.pt')['iter'] == 13
    rest = _run(splits, tmp_path/'b', resume=True)
    assert rest.iters == 24 and not rest.interrupted
    for (k, a), b in zip(full.model.state_dict().items(), rest.model.state_dict().values()):
        assert torch.equal(a, b), k
    # the optimizer state matches too
    oa, ob = load_checkpoint(tmp_path/'a'/'last.pt')['optimizer'], load_checkpoint(tmp_path/'b'/'last.pt')['optimizer']
    for sa, sb in zip(oa['state'].values(), ob['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)

def test_resume_with_grad_accum_is_exact(splits, tmp_path):
    full = _run(splits, tmp_path/'a', max_iters=12, grad_accum=2)
    _run(splits, tmp_path/'b', max_iters=12, grad_accum=2, stop_at=5)
    rest = _run(splits, tmp_path/'b', max_iters=12, grad_accum=2, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), rest.model.state_dict().values()))

def test_nan_stops_and_keeps_last_good_checkpoint(splits, tmp_path):
    def poison(step, loss, model):
        if step == 10:
            with torch.no_grad(): model.transformer.h[0].mlp.c_fc.weight.fill_(float('inf'))
    cfg = train_config('tiny', max_iters=30, eval_interval=10, eval_iters=2, out_dir=str(tmp_path))
    with pytest.raises(FloatingPointError, match='last good checkpoint'):
        train(gpt_config('tiny'), cfg, splits, progress=False, callback=poison)
    ck = load_checkpoint(tmp_path/'last.pt')
    assert ck['iter'] == 10 and all(torch.isfinite(t).all() for t in ck['model'].values())

def test_checkpoint_errors_name_the_file(tmp_path):
    (tmp_path/'cut.pt').write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(CheckpointError, match='cut.pt'): load_checkpoint(tmp_path/'cut.pt')
    torch.save({'weights': torch.zeros(2)}, tmp_path/'foreign.pt')
    with pytest.raises(CheckpointError, match='foreign.pt is a PyTorch file but not a gpt_course checkpoint'):
        load_checkpoint(tmp_path/'foreign.pt')
    with pytest.raises(FileNotFoundError, match='missing.pt'): load_checkpoint(tmp_path/'missing.pt')

def test_checkpoint_refuses_pickled_code(tmp_path):
    import pickle
    class Evil:
        def __reduce__(self): return (os.system, ('echo pwned',))
    with open(tmp_path/'evil.pt', 'wb') as f: pickle.dump({'format': training.CHECKPOINT_FORMAT, 'x': Evil()}, f)
    with pytest.raises(CheckpointError, match='evil.pt'): load_checkpoint(tmp_path/'evil.pt')

def test_checkpoint_has_everything_and_no_compile_prefix(splits, tmp_path):
    _run(splits, tmp_path, max_iters=10)
    ck = load_checkpoint(tmp_path/'last.pt')
    assert {'model', 'optimizer', 'scaler', 'iter', 'best_val_loss', 'model_config', 'train_config', 'vocab', 'rng'} <= set(ck)
    assert {'torch', 'python', 'numpy', 'batch'} <= set(ck['rng'])
    assert not any(k.startswith('_orig_mod.') for k in ck['model'])
    model, tok = model_from_checkpoint(tmp_path/'best.pt')
    assert tok.vocab_size == 65 and not model.training
    recs = read_metrics(tmp_path)
    assert any('val_loss' in r for r in recs) and any('tokens_per_sec' in r for r in recs)

def test_compile_failure_falls_back_to_eager(splits, tmp_path, monkeypatch):
    def broken(*a, **k): raise RuntimeError("no compiler here")
    monkeypatch.setattr(torch, 'compile', broken)
    cfg = train_config('tiny', max_iters=5, eval_interval=5, eval_iters=1, out_dir=str(tmp_path), compile=True)
    with pytest.warns(UserWarning, match='torch.compile failed'):
        res = train(gpt_config('tiny'), cfg, splits, progress=False)
    assert res.iters == 5

def test_resume_rejects_other_model(splits, tmp_path):
    _run(splits, tmp_path, max_iters=5)
    cfg = train_config('tiny', max_iters=10, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match='resume with the same model config'):
        train(gpt_config('tiny', n_layer=3), cfg, splits, resume=True, progress=False)

def test_config_validation_and_precision():
    for kw, msg in [(dict(max_iters=0), 'max_iters'), (dict(learning_rate=0), 'learning_rate'), (dict(beta2=1.0), 'beta2'),
                    (dict(grad_clip=-1), 'grad_clip'), (dict(precision='int8'), 'precision'), (dict(device='tpu9'), 'device')]:
        with pytest.raises(ValueError, match=msg): TrainConfig(**kw)
    assert choose_precision('cpu') == 'fp32'
    with pytest.raises(ValueError, match='needs a CUDA GPU'): choose_precision('cpu', 'fp16')

def test_lr_schedule():
    cfg = TrainConfig(max_iters=1000, warmup_iters=100, learning_rate=1e-3, min_lr=1e-4)
    assert get_lr(0, cfg) < get_lr(99, cfg) <= 1e-3
    assert abs(get_lr(100, cfg) - 1e-3) < 1e-9 and abs(get_lr(1000, cfg) - 1e-4) < 1e-12

def test_resume_is_bit_exact_with_muon(splits, tmp_path):
    full = _run(splits, tmp_path/'a', max_iters=16, optimizer='muon', muon_lr=0.02)
    _run(splits, tmp_path/'b', max_iters=16, optimizer='muon', muon_lr=0.02, stop_at=7)
    rest = _run(splits, tmp_path/'b', max_iters=16, optimizer='muon', muon_lr=0.02, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), rest.model.state_dict().values()))

def test_muon_adamw_path_matches_torch_adamw():
    from gpt_course.training import Muon
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(5, 3)); w2 = torch.nn.Parameter(w1.detach().clone())
    ours = Muon([{'params': [w1], 'weight_decay': 0.1}], lr=1e-2, betas=(0.9, 0.99))
    ref = torch.optim.AdamW([w2], lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1, eps=1e-8)
    for _ in range(5):
        g = torch.randn(5, 3)
        w1.grad, w2.grad = g.clone(), g.clone()
        ours.step(); ref.step()
    assert torch.allclose(w1, w2, atol=1e-6)

def test_orthogonalize_flattens_singular_values():
    from gpt_course.training import orthogonalize
    G = torch.randn(64, 200) * torch.logspace(0, -2, 64)[:, None]
    s = torch.linalg.svdvals(orthogonalize(G))
    assert 0.6 < s.min() and s.max() < 1.3
    s = torch.linalg.svdvals(orthogonalize(G.T))                # tall matrices too
    assert 0.6 < s.min() and s.max() < 1.3
