import pytest, torch
from torch.utils.flop_counter import FlopCounterMode
from torch.nn.attention import sdpa_kernel, SDPBackend
from gpt_course.model import GPT, gpt_config
from gpt_course.training import train_config
from gpt_course.estimate import flops_per_token, predict_time, step_time_on, n_evals, mfu, measure_throughput

def test_flops_formula_matches_counter():
    cfg = gpt_config('nanogpt-cpu')
    m, x = GPT(cfg), torch.randint(0, 65, (1, cfg.block_size))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as c:
        m(x, x)[1].backward()
    assert abs(c.get_total_flops() / x.numel() / flops_per_token(cfg) - 1) < 0.03

def test_predictions():
    t = train_config('gpt-10m', max_iters=1000, eval_interval=500, eval_iters=10)
    assert n_evals(t) == 2 and n_evals(train_config('tiny', max_iters=150, eval_interval=100)) == 2
    assert predict_time(t, 1.0, 0.1) == pytest.approx(1000 + 2 * 2 * 10 * 0.1)
    fast, slow = (step_time_on(gpt_config('gpt-10m'), t, 'T4', 'fp16', u) for u in (0.4, 0.1))
    assert slow == pytest.approx(4 * fast)
    with pytest.raises(ValueError, match='no bf16'): step_time_on(gpt_config('gpt-10m'), t, 'T4', 'bf16', 0.3)
    assert mfu(gpt_config('tiny'), 1000, 1e12) == pytest.approx(1000 * flops_per_token(gpt_config('tiny')) / 1e12)

def test_measure_throughput(splits):
    b = measure_throughput(gpt_config('tiny'), train_config('tiny'), splits.train, steps=2, warmup=1, eval_batches=1)
    assert b['tokens_per_sec'] > 0 and b['step_time'] > 0 and b['precision'] == 'fp32'
