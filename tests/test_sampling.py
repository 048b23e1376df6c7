"""The KV cache is exact up to block_size, and behaves as documented past it."""
import pytest, torch
from gpt_course.model import GPT, gpt_config
from gpt_course.sampling import KVCache, forward_cached, generate, stream, check_sampling_args, top_k_filter, top_p_filter

@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    m = GPT(gpt_config('tiny', n_layer=3, n_head=4, n_embd=32, block_size=24)).eval()
    with torch.no_grad():   # logits with std ~1, like a trained model's, so greedy choices are not near-ties
        for p in m.parameters(): p.mul_(3)
    return m

def test_cached_logits_match_at_every_step(model):
    seq = torch.randint(0, 65, (3, 24))
    cache = KVCache(model, 3)
    outs = [forward_cached(model, seq[:, :5], cache)] + [forward_cached(model, seq[:, t:t+1], cache) for t in range(5, 24)]
    with torch.no_grad(): ref = model(seq)[0]
    assert (torch.cat(outs, 1) - ref).abs().max() < 1e-4
    with pytest.raises(ValueError, match='KV cache holds 24'): forward_cached(model, seq[:, :1], cache)

def test_greedy_and_seeded_sampling_equal_uncached_up_to_block_size(model):
    p = torch.randint(0, 65, (2, 4))
    assert torch.equal(generate(model, p, 20, temperature=0), generate(model, p, 20, temperature=0, use_cache=False))
    a = generate(model, p, 20, top_k=10, top_p=0.9, generator=torch.Generator().manual_seed(3))
    b = generate(model, p, 20, top_k=10, top_p=0.9, generator=torch.Generator().manual_seed(3), use_cache=False)
    assert torch.equal(a, b)

def test_past_block_size_refills_from_last_half_window(model):
    bs, p = 24, torch.randint(0, 65, (1, 3))
    g = generate(model, p, 80, temperature=0)
    assert g.shape == (1, 83)
    # The documented schedule: the window is [0, t) until the cache is full, then the last bs//2 tokens at each
    # refill. Replay it and check each chosen token is the argmax of an exact forward pass over its window.
    cache, start = KVCache(model, 1), 0
    for t in range(3, 83):
        if t == 3: logits = forward_cached(model, g[:, :t], cache)[:, -1]
        elif cache.pos == bs: start = t - bs // 2; cache.reset(); logits = forward_cached(model, g[:, start:t], cache)[:, -1]
        else: logits = forward_cached(model, g[:, t-1:t], cache)[:, -1]
        with torch.no_grad(): ref = model(g[:, start:t])[0][:, -1]
        assert (logits - ref).abs().max() < 1e-4 and logits.argmax(-1) == g[0, t]
        assert bs // 2 <= t - start <= bs or start == 0

def test_stream_yields_tokens_and_validates(model):
    toks = list(stream(model, torch.zeros(1, 1, dtype=torch.long), 5, generator=torch.Generator().manual_seed(0)))
    assert len(toks) == 5 and toks[0].shape == (1,)
    with pytest.raises(ValueError, match='at least one token'): list(stream(model, torch.zeros(1, 0, dtype=torch.long), 3))
    for kw, msg in [(dict(temperature=-0.1), 'temperature'), (dict(top_k=0), 'top_k'), (dict(top_p=0.0), 'top_p'),
                    (dict(top_p=1.01), 'top_p'), (dict(max_new_tokens=-1), 'max_new_tokens')]:
        with pytest.raises(ValueError, match=msg): check_sampling_args(**kw)
    assert torch.equal(generate(model, torch.zeros(1, 2, dtype=torch.long), 0), torch.zeros(1, 2, dtype=torch.long))
    assert model.training is False

def test_filters():
    l = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    assert torch.equal(top_k_filter(l, 99), l)
    assert torch.isfinite(top_p_filter(l, 0.01)).sum() == 1
