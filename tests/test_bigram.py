import math, torch
from gpt_course.bigram import BigramLanguageModel, estimate_loss, train_quick

def test_bigram_learns_and_evaluates_deterministically(splits):
    torch.manual_seed(0)
    m = BigramLanguageModel(splits.tokenizer.vocab_size)
    s = {'val': splits.val}
    before = estimate_loss(m, s, 8, 32, eval_iters=20)
    assert abs(before['val'] - math.log(65)) < 0.05
    train_quick(m, splits.train, 8, 128, 300, lr=0.05, generator=torch.Generator().manual_seed(0))
    after = estimate_loss(m, s, 8, 32, eval_iters=20)
    assert after['val'] < 2.7 and after == estimate_loss(m, s, 8, 32, eval_iters=20)
    out = m.generate(torch.zeros(2, 1, dtype=torch.long), 10, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 11)
