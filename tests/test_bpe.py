"""Byte-level BPE (lesson 11): what the notebook cannot show at scale.

Random round trips, the naive and incremental trainers on many tie-heavy texts, tiktoken on thousands
of random Unicode strings, and every kind of malformed tokenizer file."""
import json, random, subprocess, sys
import pytest
from gpt_course.bpe import (BPEFileError, BPETokenizer, GPT2_SPLIT_PATTERN, Merge, split_chunks, train_bpe,
                            train_bpe_naive)
from gpt_course.data import load_text


def random_unicode(rng, n):
    "`n` random valid code points (no surrogates), half from pools of awkward ones."
    pools = ["abc XYZ.,!?'\n\t  ", "éüñçøß", "世界你好日本語한국어", "👋🎉🙂👍🏽", "\u0301\u0308\u200d",
             "\x00\x07\x1b\x1c\x1f\x7f\x85\xa0\u2028\u3000\x0b\x0c\r", "0123456789٣४", "'s 're 'll"]
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            cp = rng.randrange(0x110000)
            out.append(chr(cp) if not 0xD800 <= cp < 0xE000 else 'x')
        else: out.append(rng.choice(rng.choice(pools)))
    return ''.join(out)


@pytest.fixture(scope='module')
def tok():
    "512 tokens learned from the first 300,000 characters of tiny Shakespeare."
    return BPETokenizer.train(load_text()[:300_000], 512)


def test_module_imports_without_optional_dependencies():
    code = ("import sys, gpt_course.bpe as b; "
            "assert not {'regex', 'tiktoken', 'tokenizers', 'torch'} & set(sys.modules), sorted(sys.modules)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_round_trip_random_strings(tok):
    rng = random.Random(0)
    for _ in range(2000):
        s = random_unicode(rng, rng.randrange(0, 80))
        assert tok.decode(tok.encode(s)) == s


def test_round_trip_random_bytes_decoded_as_utf8(tok):
    rng = random.Random(1)
    for _ in range(500):
        s = bytes(rng.randrange(256) for _ in range(rng.randrange(50))).decode('utf-8', errors='replace')
        assert tok.decode(tok.encode(s)) == s


def test_lone_surrogate_is_a_value_error(tok):
    with pytest.raises(ValueError): tok.encode('a\ud800b')      # UnicodeEncodeError is a ValueError


@pytest.mark.parametrize('alphabet', ['ab', 'abc ', "ab c'd.\n", 'éa 世'])
def test_naive_and_incremental_learn_the_same_merges(alphabet):
    rng = random.Random(len(alphabet))
    for _ in range(60):
        text = ''.join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        vocab_size = 256 + rng.randrange(0, 40)
        assert train_bpe(text, vocab_size) == train_bpe_naive(text, vocab_size), (text, vocab_size)


def test_ties_go_to_the_smallest_pair():
    # 'ab' and 'cd' are equally frequent: (97, 98) < (99, 100), so 'ab' is merged first
    assert train_bpe('cd,ab,cd,ab', 257) == [Merge(97, 98, 2)]
    assert train_bpe_naive('cd,ab,cd,ab', 257) == [Merge(97, 98, 2)]


def test_training_is_deterministic_and_prefix_consistent():
    text = load_text()[:100_000]
    big, small = train_bpe(text, 600), train_bpe(text, 400)
    assert big[:len(small)] == small and len(big) == 600 - 256


def test_vocab_size_checked():
    for bad in (255, 0, 300.0, True):
        with pytest.raises(ValueError, match='vocab_size'): train_bpe('abc', bad)


def test_tiktoken_equal_on_random_unicode(tok):
    tiktoken = pytest.importorskip('tiktoken')
    enc = tiktoken.Encoding('t', pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks, special_tokens={})
    rng, n = random.Random(2), 0
    for _ in range(3000):
        s = random_unicode(rng, rng.randrange(1, 60))
        ids = tok.encode(s)
        assert ids == enc.encode_ordinary(s), s
        n += len(ids)
    assert n > 50_000


def test_tiktoken_equal_with_a_reused_token():
    # (ab, c) and (a, bc) both make b'abc': one token, one rank
    tiktoken = pytest.importorskip('tiktoken')
    tok = BPETokenizer([(97, 98), (256, 99), (98, 99), (97, 258), (257, 257)])
    assert tok.vocab_size == 256 + 4 and tok.vocab[257] == b'abc' and tok.vocab[259] == b'abcabc'
    enc = tiktoken.Encoding('t', pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks, special_tokens={})
    rng = random.Random(3)
    for _ in range(500):
        s = ''.join(rng.choice('abc ') for _ in range(rng.randrange(1, 30)))
        assert tok.encode(s) == enc.encode_ordinary(s), s
        assert tok.decode(tok.encode(s)) == s


def test_other_pattern_round_trips_and_saves(tmp_path):
    pattern = r"\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+|\s+"
    tok = BPETokenizer.train(load_text()[:20_000], 300, pattern=pattern)
    assert all(not c.startswith(' ') or c.isspace() for c in split_chunks("a b  c", pattern))
    tok.save(tmp_path/'t.json')
    tok2 = BPETokenizer.load(tmp_path/'t.json')
    assert tok2.pattern == pattern and tok2.mergeable_ranks == tok.mergeable_ranks
    assert tok2.encode("Hello, world") == tok.encode("Hello, world")


def test_save_load_exact(tok, tmp_path):
    tok.save(tmp_path/'t.json')
    tok2 = BPETokenizer.load(tmp_path/'t.json')
    assert (tok2.merges, tok2.mergeable_ranks, tok2.pattern) == (tok.merges, tok.mergeable_ranks, GPT2_SPLIT_PATTERN)
    s = random_unicode(random.Random(4), 500)
    assert tok2.encode(s) == tok.encode(s)


def _good(tok):
    return tok.to_dict()

def _drop(d, k): return {x: v for x, v in d.items() if x != k}

def _swap_ranks(d):
    r = dict(d['mergeable_ranks']); a, b = b'a'.hex(), b'b'.hex()
    r[a], r[b] = r[b], r[a]
    return {**d, 'mergeable_ranks': r}

MALFORMED = {
    'not json':          (lambda d: '{"format": "gpt_course.bpe", ', 'not a JSON file'),
    'empty file':        (lambda d: '', 'not a JSON file'),
    'a list':            (lambda d: [], 'expected a JSON object'),
    'missing merges':    (lambda d: _drop(d, 'merges'), "missing key(s) 'merges'"),
    'missing two':       (lambda d: _drop(_drop(d, 'pattern'), 'version'), "'version', 'pattern'"),
    'wrong format':      (lambda d: {**d, 'format': 'tiktoken'}, "format is 'tiktoken'"),
    'wrong version':     (lambda d: {**d, 'version': 2}, 'version is 2, this code reads version 1'),
    'pattern not str':   (lambda d: {**d, 'pattern': 5}, "'pattern' must be a string"),
    'bad regex':         (lambda d: {**d, 'pattern': '(?:'}, "'pattern' is not a usable regex"),
    'merges not pairs':  (lambda d: {**d, 'merges': [[1, 2, 3]]}, "'merges' must be a list of [a, b] pairs"),
    'merge id too big':  (lambda d: {**d, 'merges': [[97, 9999]] + d['merges'][1:]}, 'bad merges: Merge 0'),
    'ranks not object':  (lambda d: {**d, 'mergeable_ranks': []}, "'mergeable_ranks' must be an object"),
    'key not hex':       (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], 'zz': 1}}, 'not hex-encoded'),
    'rank not int':      (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': '97'}}, 'every rank must be an integer'),
    'rank gap':          (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': 10_000}}, 'bad ranks: the'),
    'duplicate rank':    (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': 98}}, 'each exactly once'),
    'ranks swapped':     (lambda d: _swap_ranks(d), 'from its merges'),
    'merges truncated':  (lambda d: {**d, 'merges': d['merges'][:-1]}, 'from its merges'),
}

@pytest.mark.parametrize('case', list(MALFORMED))
def test_malformed_file_names_file_and_problem(tok, tmp_path, case):
    make, message = MALFORMED[case]
    obj = make(_good(tok))
    path = tmp_path/f'{case.replace(" ", "_")}.json'
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding='utf-8')
    with pytest.raises(BPEFileError) as e: BPETokenizer.load(path)
    assert isinstance(e.value, ValueError)
    assert str(path) in str(e.value) and message in str(e.value), str(e.value)


def test_not_utf8_file(tmp_path):
    path = tmp_path/'bin.json'; path.write_bytes(b'\xff\xfe\x00')
    with pytest.raises(BPEFileError, match='not a JSON file'): BPETokenizer.load(path)


def test_decode_out_of_range_names_the_id(tok):
    for bad in (tok.vocab_size, -1, 10**9):
        with pytest.raises(ValueError, match=f'Token id {bad} is out of range'): tok.decode([1, bad])
    assert tok.decode([]) == ''


def test_decode_accepts_tensors(tok):
    torch = pytest.importorskip('torch')
    ids = tok.encode("To be, or not to be")
    assert tok.decode(torch.tensor(ids)) == "To be, or not to be"


def test_encode_cache_does_not_change_ids(tok):
    s = load_text()[-20_000:]
    cold = BPETokenizer(tok.merges).encode(s)
    assert tok.encode(s) == cold == tok.encode(s)
