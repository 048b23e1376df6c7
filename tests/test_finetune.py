"""Lesson 14a's commands, end to end, as a user runs them: `gpt-course finetune` and `gpt-course chat`."""
import json, os, signal, subprocess, shutil, time
import pytest

from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from gpt_course.cli import main

ENV = {**os.environ, 'OMP_NUM_THREADS': '2'}

def in_process(*argv):
    "`gpt-course argv` run by `main` in this process (cheaper than a subprocess): (exit status, stderr)."
    err = StringIO()
    with redirect_stdout(StringIO()), redirect_stderr(err):
        try: rc = main(list(argv))
        except SystemExit as e: rc = e.code
    return rc, err.getvalue()

def gpt_course(*args, check=True, input=None):
    exe = shutil.which('gpt-course') or pytest.skip('gpt-course is not installed (pip install -e .)')
    r = subprocess.run([exe, *args], capture_output=True, text=True, env=ENV, input=input)
    if check: assert r.returncode == 0, r.stderr
    return r

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "A tiny pre-trained character model (block_size 32: the word tasks fit, long lines are left out)."
    out = tmp_path_factory.mktemp('base')
    gpt_course('train', '--preset', 'tiny', '--max-iters', '30', '--eval-interval', '30', '--eval-iters', '2',
               '--out', str(out), '--sample-chars', '0')
    return out/'best.pt'

SHORT = ['--max-iters', '30', '--eval-interval', '30', '--eval-iters', '2', '--batch-size', '8']

@pytest.fixture(scope='module')
def chat(base, tmp_path_factory):
    "The tiny model fine-tuned on two generated tasks by `gpt-course finetune`: (its folder, what finetune printed)."
    out = tmp_path_factory.mktemp('chat')
    return out, gpt_course('finetune', '--ckpt', str(base), '--out', str(out), '--overwrite', '--tasks', 'uppercase,reverse', *SHORT).stdout

def test_finetune_then_chat_with_piped_prompts(base, chat):
    from gpt_course.checkpoint import model_from_checkpoint
    from gpt_course.sft import greedy_answers
    out, printed = chat
    assert printed.startswith(f'fine-tuning {base}') and 'held-out accuracy (exact match): uppercase' in printed
    assert f'gpt-course chat --ckpt {out}' in printed and {'best.pt', 'last.pt', 'metrics.jsonl'} <= set(os.listdir(out))
    r = gpt_course('chat', '--ckpt', str(out/'best.pt'), '--max-new-tokens', '12', input='Uppercase: gentle\n\nReverse: king\n')
    assert r.stderr == '' and r.stdout.endswith('\n')
    model, tok = model_from_checkpoint(out/'best.pt', 'cpu')
    expected = greedy_answers(model, tok, ['Uppercase: gentle', 'Reverse: king'], max_new_tokens=12)
    assert r.stdout.split('\n')[:-1] == [a.replace('\n', '\\n') for a in expected]   # one greedy answer a line (the blank line skipped)

def test_finetune_resume_and_again(base, chat, tmp_path):
    "--resume continues a fine-tuning from last.pt; a checkpoint with a chat template is fine-tuned again, keeping its template."
    out = chat[0]
    r = gpt_course('finetune', '--ckpt', str(base), '--out', str(out), '--tasks', 'uppercase,reverse', *SHORT[2:], '--max-iters', '40', '--resume')
    assert '40 steps in' in r.stdout
    from gpt_course.checkpoint import load_checkpoint
    rc, err = in_process('finetune', '--ckpt', str(out/'best.pt'), '--out', str(tmp_path/'again'), '--tasks', 'reverse', *SHORT)
    assert rc == 0, err
    test_tok = load_checkpoint(tmp_path/'again'/'best.pt')['tokenizer']
    assert test_tok['kind'] == 'chat' and test_tok['base']['kind'] == 'char'      # one template, not a template of a template

def test_finetune_on_jsonl(base, tmp_path):
    data = tmp_path/'pairs.jsonl'
    data.write_text(''.join(json.dumps({'prompt': f'Say {w}', 'response': w}) + '\n' for w in
                            ['king', 'queen', 'duke', 'lord', 'lady', 'earl', 'knight', 'page', 'friar', 'nurse', 'clown']))
    r = gpt_course('finetune', '--ckpt', str(base), '--data', str(data), '--out', str(tmp_path/'j'), *SHORT)
    assert f'on 10 conversations ({data}' in r.stdout and 'jsonl' in r.stdout and '(1 examples)' in r.stdout

BAD_JSONL = [
    (['{"prompt": "Uppercase: king", "response": "KING"}', '{"prompt": "Reverse: king" "response": "gnik"}'], 'line 2, is not JSON'),
    (['{"prompt": "Uppercase: king", "response": "KING"}', '', '["Uppercase: king", "KING"]'], 'line 3'),
    (['{"prompt": "Uppercase: king"}'], 'line 1'),
    (['{"prompt": "Uppercase: café", "response": "CAFÉ"}'], "line 1: "),
    ([''], 'holds no prompt/response pairs'),
]

@pytest.mark.parametrize('lines, says', BAD_JSONL[:2])
def test_malformed_jsonl_is_exit_2_naming_the_line(base, tmp_path, lines, says):
    data = tmp_path/'bad.jsonl'
    data.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    r = gpt_course('finetune', '--ckpt', str(base), '--data', str(data), '--out', str(tmp_path/'x'), check=False)
    assert r.returncode == 2 and says in r.stderr and 'bad.jsonl' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'x').exists()                               # it stopped before training

@pytest.mark.parametrize('lines, says', BAD_JSONL[2:])
def test_more_malformed_jsonl_in_process(base, tmp_path, lines, says):
    data = tmp_path/'bad.jsonl'
    data.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    rc, err = in_process('finetune', '--ckpt', str(base), '--data', str(data), '--out', str(tmp_path/'x'))
    assert rc == 2 and says in err and 'bad.jsonl' in err and 'Traceback' not in err, err
    assert not (tmp_path/'x').exists()

def test_bad_input_is_a_clear_error(base, tmp_path):
    r = gpt_course('chat', '--ckpt', str(base), check=False, input='Uppercase: king\n')
    assert r.returncode == 2 and 'has no chat template' in r.stderr and 'gpt-course finetune' in r.stderr and 'Traceback' not in r.stderr
    rc, err = in_process('chat', '--ckpt', str(tmp_path/'none.pt'))
    assert rc == 2 and 'No checkpoint at' in err and 'Traceback' not in err
    rc, err = in_process('finetune', '--ckpt', str(base), '--tasks', 'uppercase,poetry', '--out', str(tmp_path/'y'))
    assert rc == 2 and "unknown poetry" in err and 'Traceback' not in err
    rc, err = in_process('finetune', '--ckpt', str(base), '--rehearsal', '1.5', '--out', str(tmp_path/'y'))
    assert rc == 2 and '--rehearsal must be in [0, 1)' in err and 'Traceback' not in err

def test_ctrl_c_leaves_chat_cleanly(chat):
    "Ctrl-C (SIGINT) while chat waits for a prompt: exit status 0, no traceback."
    p = subprocess.Popen([shutil.which('gpt-course'), 'chat', '--ckpt', str(chat[0]/'best.pt')], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    p.stdin.write('Uppercase: king\n'); p.stdin.flush()
    line = p.stdout.readline()                                        # the first answer: chat now waits for the next prompt
    time.sleep(0.2); p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 0 and 'Traceback' not in err and 'KeyboardInterrupt' not in err, err
    assert line.endswith('\n')

def test_lora_finetune_resume_and_checkpoint(base, tmp_path):
    "gpt-course finetune --changes lora8 (lesson 14b): only the adapters train, resume continues, the checkpoint rebuilds the LoRA model."
    import torch
    from gpt_course.checkpoint import load_checkpoint, model_from_checkpoint
    from gpt_course.model import LoRALinear
    out, opts = tmp_path/'lora', ['--changes', 'lora8', '--tasks', 'uppercase', '--learning-rate', '1e-2']
    rc, err = in_process('finetune', '--ckpt', str(base), '--out', str(out), *opts, *SHORT)
    assert rc == 0, err
    rc, err = in_process('finetune', '--ckpt', str(base), '--out', str(out), *opts, *SHORT[2:], '--max-iters', '40', '--resume')
    assert rc == 0, err
    assert load_checkpoint(out/'last.pt')['iter'] == 40
    model, tok = model_from_checkpoint(out/'last.pt')
    layer = model.transformer.h[0].attn.c_attn
    assert model.config.changes == ('lora8',) and isinstance(layer, LoRALinear) and tok.kind == 'chat'
    pre = load_checkpoint(base)['model']
    assert torch.equal(layer.weight, pre['transformer.h.0.attn.c_attn.weight'])     # the base weights stayed frozen
    assert layer.lora_B.abs().max() > 0                                             # the adapters moved from zero
