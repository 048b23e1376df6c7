"""Issue 27: property-based fuzzing of the command line and of the files a run leaves behind, bounded in time.
For every generated case: exit status 0 or 2, a message and never a traceback, and a good run's files byte-identical afterwards.
A longer hunt: FUZZ_EXAMPLES=300 pytest tests/test_fuzz.py (the default keeps the suite inside its time budget)."""
import contextlib, io, json, os, random, shutil, time
from pathlib import Path
import pytest, torch
from hypothesis import HealthCheck, given, settings, strategies as st
from gpt_course.cli import main
from gpt_course.training import gpt_config, train, train_config

FAST = settings(max_examples=int(os.environ.get('FUZZ_EXAMPLES', 6)), deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
BOUND = ['--max-iters', '2', '--eval-interval', '1', '--eval-iters', '1', '--sample-chars', '3', '--device', 'cpu']   # last: they win
SIZES = ['--block-size', '--n-layer', '--n-head', '--n-embd']                       # values that build a model: kept small
SMALL = ['-1', '0', '1', '2', '3', '8', '16', '', 'abc', '1.5', 'nan', 'inf', '-0', '1e-46', 'none', 'true', '0x10', ' 4']
ANY = SMALL + [str(2**64), str(-2**63 - 1), '1e308', '-1e308', '2**8', '☃', '--', "'; rm -rf /'"]
FLOATS = ['--learning-rate', '--min-lr', '--weight-decay', '--muon-lr', '--beta1', '--beta2', '--grad-clip', '--dropout']
OTHER = ['--warmup-iters', '--lr-decay-iters', '--log-interval', '--checkpoint-interval', '--seed', '--precision', '--optimizer',
         '--compile', '--bias', '--changes', '--device', '--grad-accum', '--tokenizer', '--vocab-size']

def call(*argv) -> tuple:
    "`gpt-course argv` in this process: (status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def ok(rc, err):
    assert rc in (0, 2), (rc, err[-2000:])
    assert 'Traceback' not in err, err[-3000:]
    if rc == 2: assert 'error' in err and len(err.strip()) > 20, err

@pytest.fixture(scope='module')
def good(splits, tmp_path_factory):
    "A finished tiny run; its files must never change."
    out = tmp_path_factory.mktemp('good')
    train(gpt_config('tiny'), train_config('tiny', max_iters=6, eval_interval=3, eval_iters=2, out_dir=str(out), device='cpu'), splits,
          progress=False)
    return out, {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != 'train.lock'}

option = st.one_of(st.tuples(st.sampled_from(SIZES), st.sampled_from(SMALL)),
                   st.tuples(st.sampled_from(FLOATS), st.sampled_from(ANY + ['0.5', '1e-3', '1e30'])),
                   st.tuples(st.sampled_from(OTHER), st.sampled_from(ANY + ['fp16', 'bf16', 'muon', 'rope,rmsnorm', 'relu2,swiglu', 'bpe', '300'])),
                   st.tuples(st.sampled_from(['--resume', '--overwrite', '--allow-changes']), st.just(None)))

@FAST
@given(opts=st.lists(option, max_size=4))
def test_train_options(tmp_path_factory, good, opts):
    out = tmp_path_factory.mktemp('fuzz')
    argv = ['train', '--preset', 'tiny', '--out', out]
    for flag, value in opts: argv += [flag] if value is None else [flag, value]
    ok(*call(*argv, *BOUND)[::2])
    assert {p.name: p.read_bytes() for p in good[0].iterdir() if p.is_file() and p.name != 'train.lock'} == good[1]

@FAST
@given(opts=st.lists(st.tuples(st.sampled_from(['--temperature', '--top-k', '--top-p', '--max-new-tokens', '--seed', '--num-samples',
                                                '--prompt', '--dtype', '--device']), st.sampled_from(ANY + ['0.9', 'bf16', 'To be'])),
                     max_size=4), flags=st.lists(st.sampled_from(['--no-cache', '--compile']), max_size=1, unique=True))
def test_sample_options(good, opts, flags):
    argv = ['sample', '--ckpt', good[0]/'best.pt', '--max-new-tokens', '3']
    for flag, value in opts: argv += [flag, '3' if flag in ('--max-new-tokens', '--num-samples') and value.strip().isdigit() and int(value) > 3 else value]
    ok(*call(*argv, *flags)[::2])

def corrupt(data:bytes, how:int, rng:random.Random) -> bytes:
    "One of a few kinds of damage: cut short, a byte run overwritten, noise appended, emptied, replaced by JSON."
    if how == 0: return data[:rng.randrange(max(1, len(data)))]
    if how == 1:
        i = rng.randrange(max(1, len(data))); return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + data[i + 64:]
    if how == 2: return data + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if how == 3: return b''
    return json.dumps(rng.choice([None, 42, [1, 2], {'pid': 'x'}, {'step': 'a'}, 'text'])).encode()

@FAST
@given(name=st.sampled_from(['last.pt', 'best.pt', 'metrics.jsonl', 'train.lock']), how=st.integers(0, 4), seed=st.integers(0, 10**6),
       command=st.sampled_from(['resume', 'sample', 'overwrite']))
def test_damaged_run_files(tmp_path_factory, good, name, how, seed, command):
    out = tmp_path_factory.mktemp('damaged')
    for n, b in good[1].items(): (out/n).write_bytes(b)
    (out/name).write_bytes(corrupt(good[1].get(name, b'{"pid": 1}'), how, random.Random(seed)))
    untouched = {n: (out/n).read_bytes() for n in good[1] if n != name}
    if command == 'sample':
        rc, _, err = call('sample', '--ckpt', out/('best.pt' if name == 'best.pt' else 'last.pt'), '--max-new-tokens', '3')
    else:
        rc, _, err = call('train', '--preset', 'tiny', '--out', out, f'--{command}', *BOUND)
    ok(rc, err)
    if rc == 2 and command != 'overwrite':                                 # refused: nothing was changed
        assert {n: (out/n).read_bytes() for n in untouched} == untouched
    assert {p.name: p.read_bytes() for p in good[0].iterdir() if p.is_file() and p.name != 'train.lock'} == good[1]

@FAST
@given(content=st.one_of(st.binary(max_size=3000), st.text(max_size=3000)))
def test_data_files(tmp_path_factory, content):
    d = tmp_path_factory.mktemp('data')
    p = d/'text.txt'
    p.write_bytes(content if isinstance(content, bytes) else content.encode('utf-8', errors='surrogatepass'))
    ok(*call('train', '--preset', 'tiny', '--data', p, '--out', d/'o', *BOUND)[::2])

@FAST
@given(tok=st.one_of(st.binary(max_size=400), st.dictionaries(st.sampled_from(['format', 'version', 'pattern', 'merges', 'mergeable_ranks',
                                                                             'kind', 'chars', 'special_tokens']),
                                                            st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=4)))))
def test_tokenizer_files(tmp_path_factory, tok):
    "A tokenizer file of any content either loads or is refused with a ValueError naming the file: never another exception."
    from gpt_course.bpe import BPETokenizer
    from gpt_course.data import CharTokenizer
    p = tmp_path_factory.mktemp('tok')/'tok.json'
    p.write_bytes(tok if isinstance(tok, bytes) else json.dumps(tok).encode())
    for cls in (BPETokenizer, CharTokenizer):
        try: cls.load(p)
        except ValueError as e: assert 'tok.json' in str(e), e
