import math, pytest, torch
from gpt_course.attention import Head
from gpt_course.multihead import GPTConfig, MultiHeadAttention, CausalSelfAttention
from gpt_course.blocks import LayerNorm
from gpt_course.model import GPT, gpt_config, MODEL_PRESETS

@pytest.mark.parametrize('kw,msg', [(dict(n_embd=100, n_head=6), 'divisible'), (dict(n_layer=0), 'n_layer'),
                                    (dict(dropout=1.0), 'dropout'), (dict(dropout=-0.1), 'dropout'),
                                    (dict(vocab_size=2.5), 'vocab_size'), (dict(block_size=True), 'block_size')])
def test_config_validation(kw, msg):
    with pytest.raises(ValueError, match=msg): GPTConfig(**kw)

def test_fused_attention_equals_list_of_heads_and_is_causal():
    torch.manual_seed(0)
    cfg = GPTConfig(n_embd=48, n_head=3, block_size=12, dropout=0.0)
    mha, fused = MultiHeadAttention(48, 3, 12), CausalSelfAttention(cfg)
    with torch.no_grad():
        fused.c_attn.weight.copy_(torch.cat([torch.cat([getattr(h, n).weight for h in mha.heads]) for n in ('query', 'key', 'value')]))
        fused.c_attn.bias.zero_(); fused.c_proj.load_state_dict(mha.proj.state_dict())
        x = torch.randn(2, 12, 48)
        assert torch.allclose(fused(x), mha(x), atol=1e-5)
        x2 = x.clone(); x2[:, 7:] += 1
        assert torch.allclose(fused(x2)[:, :7], fused(x)[:, :7], atol=1e-6)

def test_gpt_shapes_init_and_errors():
    torch.manual_seed(0)
    m = GPT(gpt_config('tiny'))
    logits, loss = m(torch.randint(0, 65, (2, 32)), torch.randint(0, 65, (2, 32)))
    assert logits.shape == (2, 32, 65) and abs(loss.item() - math.log(65)) < 0.1
    assert m.lm_head.weight is m.transformer.wte.weight
    with pytest.raises(ValueError, match='block_size is 32'): m(torch.zeros(1, 33, dtype=torch.long))
    assert m(torch.zeros(1, 5, dtype=torch.long))[1] is None

def test_presets():
    n = GPT(gpt_config('gpt-10m')).num_params()
    assert 10.6e6 < n < 10.9e6
    assert set(MODEL_PRESETS) >= {'gpt-10m', 'cpu', 'tiny', 'nanogpt-cpu'}
    with pytest.raises(ValueError, match='Unknown preset'): gpt_config('huge')

def test_layernorm_matches_torch():
    x = torch.randn(3, 4, 16)
    assert torch.allclose(LayerNorm(16)(x), torch.nn.LayerNorm(16)(x), atol=1e-6)
    assert LayerNorm(16, bias=False).bias is None

def test_head_rejects_long_input():
    with pytest.raises(ValueError, match='block_size 4'): Head(8, 4, 4)(torch.randn(1, 5, 8))
