"""The installed `gpt-course` command, end to end, as a user runs it."""
import os, subprocess, shutil
import pytest

def gpt_course(*args, check=True):
    exe = shutil.which('gpt-course') or pytest.skip('gpt-course is not installed (pip install -e .)')
    r = subprocess.run([exe, *args], capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '2'})
    if check: assert r.returncode == 0, r.stderr
    return r

def test_train_then_sample(tmp_path):
    out = tmp_path/'run'
    r = gpt_course('train', '--preset', 'tiny', '--max-iters', '40', '--eval-interval', '20', '--eval-iters', '2',
                   '--out', str(out), '--sample-chars', '30')
    assert r.stdout.startswith('preset tiny |') and '--- sample' in r.stdout
    assert {'best.pt', 'last.pt', 'metrics.jsonl', 'loss.png'} <= set(os.listdir(out))
    a = gpt_course('sample', '--ckpt', str(out/'best.pt'), '--prompt', 'ROMEO:', '--max-new-tokens', '40', '--seed', '7').stdout
    b = gpt_course('sample', '--ckpt', str(out/'best.pt'), '--prompt', 'ROMEO:', '--max-new-tokens', '40', '--seed', '7').stdout
    assert a == b and a.startswith('ROMEO:') and len(a) == 6 + 40 + 1
    # resume continues from last.pt
    r = gpt_course('train', '--preset', 'tiny', '--max-iters', '50', '--eval-interval', '20', '--eval-iters', '2',
                   '--out', str(out), '--sample-chars', '0', '--resume')
    assert '50 steps' in r.stdout

def test_bad_input_is_a_clear_error(tmp_path):
    r = gpt_course('sample', '--ckpt', str(tmp_path/'none.pt'), check=False)
    assert r.returncode == 2 and 'No checkpoint at' in r.stderr and 'Traceback' not in r.stderr and r.stdout == ''
    r = gpt_course('train', '--dropout', '1.5', check=False)
    assert r.returncode == 2 and 'GPTConfig.dropout' in r.stderr and 'Traceback' not in r.stderr
    r = gpt_course('train', '--resume', '--out', str(tmp_path/'empty'), '--preset', 'tiny', check=False)
    assert r.returncode == 2 and 'no checkpoint to continue' in r.stderr and '--resume' in r.stderr

def test_missing_data_is_a_clear_error(tmp_path):
    r = gpt_course('train', '--preset', 'tiny', '--data', str(tmp_path/'nope.txt'), check=False)
    assert r.returncode == 2 and 'nope.txt' in r.stderr and 'Traceback' not in r.stderr

def test_estimate():
    r = gpt_course('estimate', '--preset', 'gpt-10m', '--max-iters', '12000', '--device-name', 'T4')
    assert 'T4' in r.stdout and 'MFLOP' in r.stdout

def test_every_lesson_10_change_through_the_cli(tmp_path):
    "Train with every change of lesson 10 that goes with the others, resume, sample; an unknown change is a clear error."
    opts = ['--changes', 'rope,rmsnorm,swiglu,qk_norm,untied,zero_init', '--optimizer', 'muon']
    out = tmp_path/'run'
    base = ['train', '--preset', 'tiny', '--eval-interval', '10', '--eval-iters', '2', '--out', str(out), '--sample-chars', '0']
    gpt_course(*base, '--max-iters', '20', *opts)
    assert '30 steps' in gpt_course(*base, '--max-iters', '30', *opts, '--resume').stdout
    a = gpt_course('sample', '--ckpt', str(out/'last.pt'), '--prompt', 'AB', '--max-new-tokens', '20', '--seed', '1').stdout
    assert a.startswith('AB') and len(a) == 2 + 20 + 1
    r = gpt_course('train', '--preset', 'tiny', '--changes', 'alibi', '--out', str(tmp_path/'x'), check=False)
    assert r.returncode == 2 and "GPTConfig.changes: unknown 'alibi'" in r.stderr and 'Traceback' not in r.stderr
    r = gpt_course('train', '--preset', 'tiny', '--changes', 'relu2,swiglu', '--out', str(tmp_path/'y'), check=False)
    assert r.returncode == 2 and 'two changes replace the feed-forward activation' in r.stderr and 'Traceback' not in r.stderr

def test_train_and_sample_on_bpe_tokens(tmp_path):
    "gpt-course train --tokenizer bpe learns a byte-level BPE from the training text; the checkpoint carries it to sample and resume."
    out = tmp_path/'bpe'
    base = ['train', '--preset', 'tiny', '--tokenizer', 'bpe', '--vocab-size', '300', '--eval-interval', '10', '--eval-iters', '2',
            '--out', str(out), '--sample-chars', '20']
    r = gpt_course(*base, '--max-iters', '20')
    assert 'BPETokenizer of 300 tokens' in r.stdout and '--- sample' in r.stdout
    assert '30 steps' in gpt_course(*base, '--max-iters', '30', '--resume').stdout       # the same tokenizer, from last.pt
    a = gpt_course('sample', '--ckpt', str(out/'best.pt'), '--prompt', 'Résumé 🎭', '--max-new-tokens', '15', '--seed', '3').stdout
    assert a.startswith('Résumé 🎭')                                                    # byte-level: any text is a prompt
    r = gpt_course('train', '--preset', 'tiny', '--tokenizer', 'bpe', '--vocab-size', '100', '--out', str(tmp_path/'x'), check=False)
    assert r.returncode == 2 and 'vocab_size' in r.stderr and 'Traceback' not in r.stderr
