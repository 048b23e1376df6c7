"""GPT-2's weights in the course's GPT (lesson 12), checked offline against `transformers` on small random GPT-2s."""
import json
import pytest
import torch

transformers = pytest.importorskip('transformers')
pytest.importorskip('safetensors')
from transformers import GPT2Config, GPT2LMHeadModel

from gpt_course.gpt2 import load_gpt2, gpt2_config, gpt2_state_dict, read_gpt2
from gpt_course.model import GPT, GPTConfig
from gpt_course.sampling import generate
from gpt_course.testing import test_eq as eq, test_fail as fails   # renamed so pytest does not collect them

transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()

def random_gpt2(**kw):
    "A small GPT2LMHeadModel with weights spread wider than GPT-2's init, so activations reach GELU's curved range."
    torch.manual_seed(0)
    cfg = dict(vocab_size=300, n_positions=32, n_embd=48, n_layer=2, n_head=3, bos_token_id=None, eos_token_id=None)
    hf = GPT2LMHeadModel(GPT2Config(**{**cfg, **kw})).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if '.ln_' in name and name.endswith('weight'): p.uniform_(0.5, 1.5)
            else: p.normal_(0.0, 0.1)
    return hf

def save(hf, folder, fmt):
    hf.save_pretrained(folder)
    if fmt == 'bin':                                  # transformers 5 writes only safetensors: write the older format
        (folder/'model.safetensors').unlink()
        torch.save(hf.state_dict(), folder/'pytorch_model.bin')
    return folder

@pytest.mark.parametrize('fmt', ['safetensors', 'bin'])
@pytest.mark.parametrize('kw', [{}, {'activation_function': 'gelu'}, {'activation_function': 'gelu_pytorch_tanh'}])
def test_logits_match_transformers(tmp_path, fmt, kw):
    hf = random_gpt2(**kw)
    model = load_gpt2(save(hf, tmp_path, fmt))
    idx = torch.randint(0, 300, (2, 32), device='cpu')
    with torch.no_grad(): gap = (model(idx)[0] - hf(idx).logits).abs().max().item()
    assert gap < 1e-4, gap
    assert model.lm_head.weight is model.transformer.wte.weight and not model.training
    eq(model.config.changes, () if kw.get('activation_function') == 'gelu' else ('gelu_tanh',))

def test_greedy_generation_matches_transformers(tmp_path):
    hf = random_gpt2()
    model = load_gpt2(save(hf, tmp_path, 'safetensors'))
    prompt = torch.randint(0, 300, (2, 5), device='cpu')
    ours = generate(model, prompt, max_new_tokens=10, temperature=0)          # with the course's KV cache
    with torch.no_grad():
        theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False, pad_token_id=0)
    eq(ours, theirs)

def test_hub_style_names_and_mask_buffers():
    "Files on the Hub lack the `transformer.` prefix and the head; older ones carry causal-mask buffers."
    hf = random_gpt2()
    sd = {k.removeprefix('transformer.'): v for k, v in hf.state_dict().items() if k != 'lm_head.weight'}
    sd['h.0.attn.bias'] = torch.ones(1, 1, 32, 32, device='cpu').tril()
    sd['h.0.attn.masked_bias'] = torch.tensor(-1e4, device='cpu')
    model = GPT(gpt2_config(hf.config.to_dict()))
    model.load_state_dict(gpt2_state_dict(sd))                                # strict
    eq(model.transformer.h[1].attn.c_attn.weight, hf.transformer.h[1].attn.c_attn.weight.t())

def test_config_translation_and_refusals():
    c = gpt2_config(dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12))
    eq((c.vocab_size, c.block_size, c.changes, c.dropout), (50257, 1024, ('gelu_tanh',), 0.0))
    with torch.device('meta'): eq(GPT(c).num_params(), 124_439_808)
    base = dict(vocab_size=10, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    fails(lambda: gpt2_config({**base, 'activation_function': 'relu'}), contains="activation_function='relu'")
    fails(lambda: gpt2_config({**base, 'n_inner': 12}), contains='n_inner=12')
    fails(lambda: gpt2_config({**base, 'scale_attn_by_inverse_layer_idx': True}), contains='scale_attn_by_inverse_layer_idx')
    fails(lambda: gpt2_config({**base, 'layer_norm_epsilon': 1e-3}), contains='layer_norm_epsilon=0.001')   # our LayerNorm: 1e-5

def test_errors_name_the_problem(tmp_path):
    fails(lambda: load_gpt2('gpt-5'), contains="'gpt-5' is neither a folder nor a GPT-2 name")
    fails(lambda: load_gpt2(tmp_path), contains='has no config.json')
    (tmp_path/'config.json').write_text(json.dumps(random_gpt2().config.to_dict()))
    fails(lambda: read_gpt2(tmp_path), contains='neither model.safetensors nor pytorch_model.bin')

def test_download_failure_is_a_clear_error(monkeypatch):
    "Offline (as in CI), a GPT-2 name gives a ValueError that names the model and what to do."
    hub = pytest.importorskip('huggingface_hub')
    def fail(*a, **k): raise OSError('no network')
    monkeypatch.setattr(hub, 'snapshot_download', fail)
    fails(lambda: load_gpt2('gpt2'), contains="Could not download 'gpt2'")

def test_old_configs_still_build():
    "A checkpoint's model_config saved before `changes` existed (activation, norm_eps, norm, ... as fields) is converted."
    from gpt_course.checkpoint import CheckpointError, model_config_from_dict
    old = dict(vocab_size=65, block_size=16, n_layer=1, n_head=2, n_embd=8, dropout=0.0, bias=True)
    eq(model_config_from_dict(old), GPTConfig(**old))                              # before any option: GPT-2
    eq(model_config_from_dict({**old, 'activation': 'gelu_tanh', 'norm_eps': 1e-5}).changes, ('gelu_tanh',))
    eq(model_config_from_dict({**old, 'norm': 'rmsnorm', 'pos_emb': 'rope', 'qk_norm': True, 'tie_weights': False,
                               'zero_init': True, 'activation': 'swiglu'}).changes,
       ('rmsnorm', 'rope', 'swiglu', 'qk_norm', 'untied', 'zero_init'))
    fails(lambda: model_config_from_dict({**old, 'activation': 'swish'}), contains="activation='swish'")
    fails(lambda: model_config_from_dict({**old, 'norm_eps': 1e-6}), contains='norm_eps=1e-06')
    assert issubclass(CheckpointError, ValueError)
