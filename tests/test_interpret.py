"""Lesson 13's tools where the notebook cannot show them: every registered change of the recipe, several sizes, the KV cache."""
import copy, math
import pytest
import torch
import torch.nn.functional as F

from gpt_course.model import GPT, GPTConfig, MODEL_CHANGES
from gpt_course.sampling import KVCache
from gpt_course.interpret import (HEAD_KINDS, ablate_heads, attention_patterns, chance_scores, fit_probe, head_masks,
                                  head_outputs, head_scores, logit_lens, prefix_matching, record, repeated_tokens,
                                  residual_stream)
from gpt_course.testing import test_eq as eq, test_close as close, test_fail as fails   # renamed so pytest does not collect them

ACTIVATIONS = ('relu2', 'swiglu', 'gelu_tanh')   # at most one of these at a time
LORAS = tuple(c for c in MODEL_CHANGES if c.startswith('lora') and c != 'lora8')   # lesson 14b's adapters: one of them in the mix
VARIANTS = [()] + [(c,) for c in MODEL_CHANGES] + [tuple(c for c in MODEL_CHANGES if c not in ACTIVATIONS[1:] + LORAS)]

def random_model(changes=(), **kw):
    "A small GPT with the given changes, its weights moved off their initialisation (zero_init's projections too)."
    torch.manual_seed(0)
    cfg = dict(vocab_size=40, block_size=16, n_layer=2, n_head=4, n_embd=32, dropout=0.0)
    model = GPT(GPTConfig(**{**cfg, **kw, 'changes': changes})).eval()
    with torch.no_grad():
        for p in model.parameters(): p.add_(0.1 * torch.randn_like(p))
    return model

def ids(model, B=3, seed=1):
    return torch.randint(0, model.config.vocab_size, (B, model.config.block_size), generator=torch.Generator().manual_seed(seed), device='cpu')

@pytest.mark.parametrize('changes', VARIANTS, ids=lambda c: '+'.join(c) or 'gpt2')
def test_ablation_restores_exactly(changes):
    model = random_model(changes)
    x = ids(model)
    with torch.no_grad(): before = model(x)[0]
    hs = model.config.n_embd // model.config.n_head
    for how in ('zero', 'mean'):
        with ablate_heads(model, [(0, 1), (1, 3)], how, reference=ids(model, seed=2)):
            with torch.no_grad(): inside = model(x)[0]
        assert (inside - before).abs().max() > 1e-4, how               # it did something...
        with torch.no_grad(): eq(model(x)[0], before)                 # ...and left nothing behind
    naive = copy.deepcopy(model)                                       # zero ablation == zeroing the head's c_proj columns
    with torch.no_grad():
        proj = naive.transformer.h[1].attn.c_proj
        proj.weight[:, 3 * hs:4 * hs] = 0
        if hasattr(proj, 'lora_A'): proj.lora_A[:, 3 * hs:4 * hs] = 0     # a LoRA layer (lesson 14b) reads the head through its adapter too
    with ablate_heads(model, [(1, 3)]), torch.no_grad(): close(model(x)[0], naive(x)[0], eps=1e-5)
    eq(sum(len(b.attn.c_proj._forward_pre_hooks) for b in model.transformer.h), 0)

@pytest.mark.parametrize('changes', VARIANTS, ids=lambda c: '+'.join(c) or 'gpt2')
def test_patterns_are_the_weights_the_layer_used(changes):
    "Weights times values, heads side by side, is what each c_proj receives: RoPE and QK-norm go through qk_transform."
    model = random_model(changes)
    x = ids(model)
    pat = attention_patterns(model, x)                                 # (L, H, B, T, T)
    L, H, B, T = model.config.n_layer, model.config.n_head, *x.shape
    eq(pat.shape, (L, H, B, T, T))
    close(pat.sum(-1), torch.ones(L, H, B, T, device='cpu'), eps=1e-5)
    eq(pat.triu(1).abs().max().item(), 0.0)
    C = model.config.n_embd
    for l, block in enumerate(model.transformer.h):
        (qkv,), _ = record(model, x, [block.attn.c_attn])
        (z,), _ = record(model, x, [block.attn.c_proj], inputs=True)
        v = qkv.split(C, dim=2)[2].view(B, T, H, C // H).transpose(1, 2)
        close((pat[l].transpose(0, 1) @ v).transpose(1, 2).reshape(B, T, C), z, eps=1e-5)

@pytest.mark.parametrize('kw', [dict(n_layer=1), dict(n_layer=3, n_head=2), dict(bias=False), dict(changes=('untied',)),
                                dict(changes=('rope', 'rmsnorm')), dict(dropout=0.3)])
def test_logit_lens_last_reading_is_the_logits(kw):
    model = random_model(**kw).train()                                 # record runs it in eval mode, then restores the mode
    x = ids(model)
    lens = logit_lens(model, x)
    eq(lens.shape, (model.config.n_layer + 1, *x.shape, model.config.vocab_size))
    assert model.training
    with torch.no_grad(): eq(lens[-1], model.eval()(x)[0])
    stream, xs = residual_stream(model, x), [model.transformer.wte(x) + model.transformer.wpe(torch.arange(x.shape[1], device='cpu'))]
    with torch.no_grad():
        for block in model.transformer.h: xs.append(block(xs[-1]))
    close(stream, torch.stack(xs), eps=1e-5)

def test_ablation_with_the_kv_cache():
    "The hook sees one position at a time when generating: cached, ablated logits equal full, ablated ones."
    model = random_model(('rope',))
    x = ids(model, B=2)
    with ablate_heads(model, [(0, 0), (1, 2)], 'mean', reference=ids(model, seed=3)), torch.no_grad():
        full = model(x)[0]
        cache = KVCache(model, 2)
        stepped = torch.cat([model(x[:, t:t + 1], kv_cache=cache)[0] for t in range(x.shape[1])], dim=1)
    close(stepped, full, eps=1e-4)

def test_bad_input_is_refused():
    model = random_model()
    x = ids(model)
    fails(lambda: record(model, x, [torch.nn.Linear(2, 2)]), contains='ran [0] times')
    for heads, kw, msg in [([(2, 0)], {}, 'is not a (layer, head) pair'), ([(0, 4)], {}, 'heads 0..3'), ([0], {}, 'is not a (layer, head)'),
                           ([(0, 0)], dict(how='noise'), "use 'zero' or 'mean'"), ([(0, 0)], dict(how='mean'), 'needs reference')]:
        fails(lambda: ablate_heads(model, heads, **kw).__enter__(), contains=msg)
    eq(sum(len(b.attn.c_proj._forward_pre_hooks) for b in model.transformer.h), 0)

def test_head_masks_follow_their_definitions():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (4, 24), generator=g, device='cpu')        # small vocabulary: many repeats; token 0 is the newline
    masks = head_masks(x, newline=0)
    eq(set(masks), set(HEAD_KINDS))
    for b in range(4):
        t = x[b].tolist()
        for i in range(24):
            newlines = [j for j in range(i + 1) if t[j] == 0]
            for j in range(24):
                want = dict(previous=j == i - 1, same=j < i and t[j] == t[i], line_start=bool(newlines) and j == newlines[-1],
                            induction=1 <= j <= i and t[j - 1] == t[i] and j - 1 < i, current=j == i)
                for kind, w in want.items(): assert bool(masks[kind][b, i, j]) == w, (kind, b, i, j)

def test_scores_and_the_induction_test():
    n = 10
    rep = repeated_tokens(6, n, 50, torch.Generator().manual_seed(0))
    eq(rep[:, :n], rep[:, n:])
    ideal = torch.zeros(1, 1, 1, 2 * n, 2 * n, device='cpu')
    ideal[..., torch.arange(n, 2 * n, device='cpu'), torch.arange(1, n + 1, device='cpu')] = 1   # query i: key i - n + 1
    ideal[..., torch.arange(n, device='cpu'), 0] = 1                                   # the first copy: key 0
    eq(prefix_matching(ideal, n), torch.ones(1, 1, device='cpu'))
    masks = head_masks(rep, newline=49)
    even = torch.ones(2 * n, 2 * n, device='cpu').tril()
    even = (even / even.sum(-1, keepdim=True)).expand(1, 1, 6, 2 * n, 2 * n)
    chance = chance_scores(masks)
    close(head_scores(even, masks)['previous'][0, 0].item(), chance['previous'], eps=1e-6)
    close(chance['previous'], sum(1 / (i + 1) for i in range(1, 2 * n)) / (2 * n), eps=1e-6)   # query i puts 1/(i+1) on i-1
    close(head_scores(ideal.expand(1, 1, 6, 2 * n, 2 * n), masks)['induction'][0, 0].item(), 0.5, eps=1e-6)   # the second half's stripe

def test_fit_probe_is_weighted_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g, device='cpu') * 4 - 2
    w_true = torch.randn(6, generator=g, device='cpu')
    probe = fit_probe(x, x @ w_true + 0.5, ridge=0.0)
    close(probe.weight[0], w_true, eps=1e-4); close(probe.bias[0].item(), 0.5, eps=1e-4)
    y = torch.randn(400, generator=g, device='cpu')
    weights = torch.rand(400, generator=g, device='cpu')
    X = torch.cat([x, torch.ones(400, 1, device='cpu')], 1).double()
    beta = torch.linalg.solve(X.T @ (X * weights.double()[:, None]), X.T @ (weights.double() * y.double()))
    with torch.no_grad(): close(fit_probe(x, y, weights, ridge=0.0)(x)[:, 0], (X @ beta).float(), eps=1e-4)
    assert fit_probe(x, y, ridge=10.0).weight.norm() < fit_probe(x, y, ridge=0.0).weight.norm()   # ridge shrinks

def test_patterns_match_transformers(tmp_path):
    transformers = pytest.importorskip('transformers')
    pytest.importorskip('safetensors')
    from gpt_course.gpt2 import load_gpt2
    transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=100, n_positions=24, n_embd=48, n_layer=2, n_head=3, bos_token_id=None, eos_token_id=None,
                                  attn_implementation='eager')    # the implementation that returns its attention weights
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters(): p.uniform_(0.5, 1.5) if '.ln_' in name and name.endswith('weight') else p.normal_(0.0, 0.1)
    hf.save_pretrained(tmp_path)
    ours = load_gpt2(tmp_path)
    x = torch.randint(0, 100, (2, 24), generator=torch.Generator().manual_seed(0), device='cpu')
    with torch.no_grad(): out = hf(x, output_attentions=True)
    close(attention_patterns(ours, x), torch.stack(out.attentions).transpose(1, 2), eps=1e-5)
    close(logit_lens(ours, x)[-1], out.logits, eps=1e-4)
