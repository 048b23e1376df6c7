"""What the training notebooks cannot show in a cell: exact resume for every optimizer path, pickled code refused,
a compile failure falling back to eager, and a checkpoint free of compile prefixes."""
import os, pickle, signal
import pytest, torch
from gpt_course.checkpoint import CHECKPOINT_FORMAT, RUN_KEYS, CheckpointError, load_checkpoint, model_from_checkpoint
from gpt_course.training import gpt_config, train, train_config

def _run(splits, out, max_iters=16, stop_at=None, resume=False, **kw):
    def cb(step, loss, model):
        if step == stop_at: os.kill(os.getpid(), signal.SIGINT)
    cfg = train_config('tiny', max_iters=max_iters, eval_interval=10, eval_iters=2, out_dir=str(out), device='cpu', **kw)  # bit-exact: CPU
    return train(gpt_config('tiny', dropout=0.1), cfg, splits, resume=resume, progress=False, callback=cb)

@pytest.mark.parametrize('kw', [dict(grad_accum=2), dict(optimizer='muon', muon_lr=0.02)], ids=['grad_accum', 'muon'])
def test_resume_is_bit_exact(splits, tmp_path, kw):
    full = _run(splits, tmp_path/'a', **kw)
    part = _run(splits, tmp_path/'b', stop_at=7, **kw)
    assert part.interrupted and load_checkpoint(tmp_path/'b'/'last.pt')['iter'] == 7
    rest = _run(splits, tmp_path/'b', resume=True, **kw)
    assert rest.iters == 16
    for (k, a), b in zip(full.model.state_dict().items(), rest.model.state_dict().values()):
        assert torch.equal(a, b), k
    oa, ob = load_checkpoint(tmp_path/'a'/'last.pt')['optimizer'], load_checkpoint(tmp_path/'b'/'last.pt')['optimizer']
    for sa, sb in zip(oa['state'].values(), ob['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) if torch.is_tensor(sa[k]) else sa[k] == sb[k] for k in sa)

def test_checkpoint_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self): return (os.system, (f'touch {tmp_path}/pwned',))
    with open(tmp_path/'evil.pt', 'wb') as f: pickle.dump({'format': CHECKPOINT_FORMAT, 'x': Evil()}, f)
    with pytest.raises(CheckpointError, match='evil.pt'): load_checkpoint(tmp_path/'evil.pt')
    assert not (tmp_path/'pwned').exists()

def test_checkpoint_has_everything_and_no_compile_prefix(splits, tmp_path):
    _run(splits, tmp_path, max_iters=10)
    ck = load_checkpoint(tmp_path/'last.pt')
    assert set(RUN_KEYS) <= set(ck) and 'data' in ck                 # the one schema, and the data's fingerprint
    assert {'torch', 'python', 'numpy', 'batch'} <= set(ck['rng'])
    assert not any(k.startswith('_orig_mod.') for k in ck['model'])
    model, tok = model_from_checkpoint(tmp_path/'best.pt')
    assert tok.vocab_size == 65 and not model.training

def test_compile_failure_falls_back_to_eager(splits, tmp_path, monkeypatch):
    def broken(*a, **k): raise RuntimeError("no compiler here")
    monkeypatch.setattr(torch, 'compile', broken)
    cfg = train_config('tiny', max_iters=5, eval_interval=5, eval_iters=1, out_dir=str(tmp_path), compile=True)
    with pytest.warns(UserWarning, match='torch.compile failed'):
        res = train(gpt_config('tiny'), cfg, splits, progress=False)
    assert res.iters == 5

def test_resume_a_checkpoint_saved_before_changes(splits, tmp_path):
    "A last.pt of format v1 (vocab, not tokenizer) whose model_config has the old per-option fields resumes; a real change is refused."
    _run(splits, tmp_path, max_iters=6)
    ck = torch.load(tmp_path/'last.pt', weights_only=True)
    ck['format'] = 'gpt_course.checkpoint.v1'
    ck['vocab'] = ck.pop('tokenizer')['chars']
    del ck['model_config']['changes']
    ck['model_config'].update(norm='layernorm', pos_emb='learned', qk_norm=False, tie_weights=True, zero_init=False,
                              activation='gelu', norm_eps=1e-5)
    torch.save(ck, tmp_path/'last.pt')
    assert _run(splits, tmp_path, max_iters=8, resume=True).iters == 8
    with pytest.raises(ValueError, match=r"trained with changes=\(\), but this run asks for changes=\('rope',\)"):
        cfg = train_config('tiny', max_iters=10, eval_interval=10, eval_iters=2, out_dir=str(tmp_path), device='cpu')
        train(gpt_config('tiny', dropout=0.1, changes=('rope',)), cfg, splits, resume=True, progress=False)
