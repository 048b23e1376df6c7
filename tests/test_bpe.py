"""Byte-level BPE (lesson 11): what the notebook cannot show at scale.

Random round trips, the naive and incremental trainers on many tie-heavy texts, the naive and heap encoders on
many chunks, tiktoken on thousands of random Unicode strings (with our vocabulary and with GPT-2's, read from
$GPT_COURSE_GPT2_RANKS, never downloaded), special tokens, split patterns that would drop text, and every kind of
malformed tokenizer file."""
import base64, json, os, random, subprocess, sys, time
from pathlib import Path
import pytest
from gpt_course.bpe import (BPEFileError, BPETokenizer, GPT2_RANKS_ENV, GPT2_SPECIAL_TOKENS, GPT2_SPLIT_PATTERN, Merge,
                            bpe_parts, bpe_parts_naive, check_pattern, gpt2_ranks_file, gpt2_tokenizer, ranks_from_merges,
                            read_tiktoken, recover_merges, split_chunks, split_special, split_text, tiktoken_cache_file,
                            train_bpe, train_bpe_naive)
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

def _v1(d): return {**_drop(_drop(d, 'kind'), 'special_tokens'), 'version': 1}

def _replace_byte(d):
    r = dict(d['mergeable_ranks']); r['0000'] = r.pop('00')      # rank 0 is now b'\x00\x00': no single byte b'\x00'
    return {**d, 'mergeable_ranks': r}

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
    'wrong version':     (lambda d: {**d, 'version': 3}, 'version is 3, this code reads versions 1 and 2'),
    'version a bool':    (lambda d: {**d, 'version': True}, 'version is True'),
    'missing kind':      (lambda d: _drop(d, 'kind'), "missing key(s) 'kind'"),
    'wrong kind':        (lambda d: {**d, 'kind': 'char'}, "kind is 'char', expected 'bpe'"),
    'pattern not str':   (lambda d: {**d, 'pattern': 5}, "'pattern' must be a string"),
    'bad regex':         (lambda d: {**d, 'pattern': '(?:'}, "'pattern' is not a usable regex"),
    'capturing group':   (lambda d: {**d, 'pattern': '(a)|b'}, "'pattern' is not a usable regex"),
    'pattern drops text': (lambda d: {**d, 'pattern': r'\w+'}, r"split pattern '\\w+' drops text: no match covers ' '"),
    'empty pattern':     (lambda d: {**d, 'pattern': ''}, "split pattern '' drops text: no match covers 'A'"),
    'merges not pairs':  (lambda d: {**d, 'merges': [[1, 2, 3]]}, "'merges' must be a list of [a, b] pairs"),
    'merge id too big':  (lambda d: {**d, 'merges': [[97, 9999]] + d['merges'][1:]}, 'Merge 0 is (97, 9999)'),
    'merge id a bool':   (lambda d: {**d, 'merges': [[True, 98]] + d['merges'][1:]}, 'Merge 0 is (True, 98)'),
    'ranks not object':  (lambda d: {**d, 'mergeable_ranks': []}, "'mergeable_ranks' must be an object"),
    'key not hex':       (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], 'zz': 1}}, 'not hex-encoded'),
    'rank not int':      (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': '97'}}, 'every rank must be an integer'),
    'rank gap':          (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': 10_000}}, 'the 512 ranks must be 0..511'),
    'duplicate rank':    (lambda d: {**d, 'mergeable_ranks': {**d['mergeable_ranks'], '61': 98}}, 'each exactly once'),
    'single byte gone':  (lambda d: _replace_byte(d), r"the single byte b'\x00' has no rank"),
    'ranks swapped':     (lambda d: _swap_ranks(d), 'but the next token in rank order is'),
    'swapped in v1':     (lambda d: _v1(_swap_ranks(d)), 'a version 1 file has the single bytes in byte order'),
    'merges truncated':  (lambda d: {**d, 'merges': d['merges'][:-1]}, 'no merge makes the token'),
    'merges extra':      (lambda d: {**d, 'merges': d['merges'] + [[300, 301]]}, '(300, 301) makes'),
    'special not object': (lambda d: {**d, 'special_tokens': []}, "'special_tokens' must be an object"),
    'special id clash':  (lambda d: {**d, 'special_tokens': {'<|x|>': 5}}, 'special token ids must be distinct integers from 512 up'),
    'special ids equal': (lambda d: {**d, 'special_tokens': {'<|x|>': 600, '<|y|>': 600}}, 'must be distinct'),
    'special empty':     (lambda d: {**d, 'special_tokens': {'': 600}}, 'non-empty strings'),
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


# --- the encoder: heap against the naive reference, linear work ---

class CountingDict(dict):
    "A dict that counts its `get` calls (the rank look-ups an encoder makes)."
    lookups = 0
    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)


@pytest.mark.parametrize('alphabet', ['ab', 'abc', 'aab ', 'the s', 'éa世👋'])
def test_heap_encoder_equals_naive_on_short_chunks(tok, alphabet):
    rng = random.Random(len(alphabet))
    for _ in range(1500):
        chunk = ''.join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))).encode()
        assert bpe_parts(tok.mergeable_ranks, chunk) == bpe_parts_naive(tok.mergeable_ranks, chunk), chunk
        r = rng.randrange(256, tok.vocab_size + 1)
        assert bpe_parts(tok.mergeable_ranks, chunk, r) == bpe_parts_naive(tok.mergeable_ranks, chunk, r), (chunk, r)


def test_heap_encoder_equals_naive_with_a_reused_token():
    ranks = ranks_from_merges([(97, 98), (256, 99), (98, 99), (97, 258), (257, 257)])
    rng = random.Random(5)
    for _ in range(2000):
        chunk = bytes(rng.choice(b'abc') for _ in range(rng.randrange(0, 30)))
        assert bpe_parts(ranks, chunk) == bpe_parts_naive(ranks, chunk), chunk


def test_encoder_work_is_linear_in_the_chunk_length(tok):
    letters = ''.join(c for c in load_text() if c.isalpha()).encode()
    def lookups(encoder, n):
        d = CountingDict(tok.mergeable_ranks); encoder(d, letters[:n]); return d.lookups
    heap = [lookups(bpe_parts, n) for n in (10_000, 20_000, 40_000)]
    assert all(k <= 3 * n for k, n in zip(heap, (10_000, 20_000, 40_000)))
    assert 1.8 < heap[1] / heap[0] < 2.2 and 1.8 < heap[2] / heap[1] < 2.2        # twice as long: twice the work
    naive = [lookups(bpe_parts_naive, n) for n in (300, 600)]
    assert naive[1] / naive[0] > 3.5                                              # the reference is quadratic


def test_long_chunk_is_fast_and_equals_tiktoken(tok):
    tiktoken = pytest.importorskip('tiktoken')
    enc = tiktoken.Encoding('t', pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks, special_tokens={})
    letters = ''.join(c for c in load_text() if c.isalpha())[:100_000]
    t0 = time.perf_counter(); ids = BPETokenizer(tok.merges).encode(letters); secs = time.perf_counter() - t0
    assert ids == enc.encode_ordinary(letters)
    assert secs < 20, secs          # the quadratic encoder took minutes here; the heap encoder well under a second
    dna = ''.join(random.Random(6).choice('ACGT') for _ in range(50_000))
    assert tok.encode(dna) == enc.encode_ordinary(dna)


# --- split patterns that would drop text ---

def test_split_text_raises_rather_than_drop():
    with pytest.raises(ValueError, match=r"drops text: no match covers ' ' \(U\+0020"): split_text('to be, or not', r'\w+')
    assert ''.join(split_chunks('to be, or not', r'\w+')) == 'tobeornot'         # what findall alone does


@pytest.mark.parametrize('pattern, char', [('', 'A'), (r'\w+', ' '), (r'\p{L}+|\p{N}+|\s+', '\u0301'),
                                           (r'\w+|\s+', '½'), (r'\S+| ', '\u2028'), (r'[^\n]+', '\n')])
def test_check_pattern_names_a_dropped_character(pattern, char):
    with pytest.raises(ValueError) as e: check_pattern(pattern)
    assert repr(pattern) in str(e.value) and f"{char!r} (U+{ord(char):04X}" in str(e.value), str(e.value)
    with pytest.raises(ValueError, match='drops text'): BPETokenizer([], pattern)
    with pytest.raises(ValueError, match='drops text'): BPETokenizer.train('abc abc', 260, pattern)


@pytest.mark.parametrize('pattern', ['', r'\w+'])
def test_file_with_a_pattern_that_drops_text_is_refused(tok, tmp_path, pattern):
    path = tmp_path/'t.json'
    path.write_text(json.dumps({**tok.to_dict(), 'pattern': pattern}), encoding='utf-8')
    with pytest.raises(BPEFileError) as e: BPETokenizer.load(path)
    msg = str(e.value)
    assert str(path) in msg and repr(pattern) in msg and 'drops text: no match covers' in msg, msg


def test_encode_raises_rather_than_drop_text_the_probe_misses():
    # passes the probe (no 'x' followed by 'q' in it), yet drops the 'x' of 'xq'
    pattern = r"[^x]+|x(?!q)"
    check_pattern(pattern)
    t = BPETokenizer([], pattern)
    assert t.decode(t.encode('a x b')) == 'a x b'
    with pytest.raises(ValueError, match=r"no match covers 'x' \(U\+0078, category Ll\) at position 2"): t.encode('abxq')


# --- special tokens: tiktoken's rules ---

SPECIAL = {'<|endoftext|>': 512, '<|fim|>': 513, '<|end|>': 515}

def test_special_tokens_follow_tiktoken(tok):
    tiktoken = pytest.importorskip('tiktoken')
    t = BPETokenizer(tok.merges, special_tokens=SPECIAL)
    enc = tiktoken.Encoding('t', pat_str=t.pattern, mergeable_ranks=t.mergeable_ranks, special_tokens=SPECIAL)
    assert t.vocab_size == enc.n_vocab == 516
    texts = ['a<|endoftext|>b', '<|end|><|endoftext|>x<|fim|>', 'no specials', '<|end', '<|endoftext|', '']
    options = [{}, {'allowed_special': 'all'}, {'allowed_special': {'<|end|>'}}, {'disallowed_special': ()},
               {'allowed_special': {'<|fim|>'}, 'disallowed_special': ()}, {'disallowed_special': {'<|fim|>'}},
               {'allowed_special': {'<|nope|>'}}]
    for s in texts:
        for kw in options:
            try: want = enc.encode(s, **kw)
            except ValueError:
                with pytest.raises(ValueError, match='disallowed'): t.encode(s, **kw)
                continue
            assert t.encode(s, **kw) == want, (s, kw)
            assert t.decode(want) == s
        assert t.encode_ordinary(s) == enc.encode_ordinary(s)
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>' at position 1"): t.encode('a<|endoftext|>')
    with pytest.raises(ValueError, match='not a token'): t.decode([514])                      # the gap between specials


def test_split_special_pieces():
    assert split_special('a<|end|>b', SPECIAL, 'all') == ['a', 515, 'b']
    assert split_special('<|endoftext|><|endoftext|>', SPECIAL, {'<|endoftext|>'}) == [512, 512]
    assert split_special('', SPECIAL) == [] and split_special('x', {}) == ['x']


@pytest.mark.parametrize('special, match', [({'<|x|>': 100}, 'from 512 up'), ({'<|x|>': 600, '<|y|>': 600}, 'distinct'),
                                            ({'': 600}, 'non-empty strings'), ({'<|x|>': True}, 'distinct integers'),
                                            ([('<|x|>', 600)], 'must be a dict')])
def test_bad_special_tokens(tok, special, match):
    with pytest.raises(ValueError, match=match): BPETokenizer(tok.merges, special_tokens=special)


# --- vocabularies from ranks (tiktoken's format) ---

def _shuffled_vocab(seed=7):
    "A small vocabulary whose single bytes are ranks 0-255 in a shuffled order, with merges learned on Shakespeare."
    order = list(range(256)); random.Random(seed).shuffle(order)
    ranks = {bytes([b]): r for r, b in enumerate(order)}
    trained = ranks_from_merges(train_bpe(load_text()[:30_000], 400))
    for t, r in sorted(trained.items(), key=lambda kv: kv[1]):
        if len(t) > 1: ranks[t] = len(ranks)
    return ranks


def test_from_tiktoken_with_single_bytes_out_of_order(tmp_path):
    tiktoken = pytest.importorskip('tiktoken')
    ranks = _shuffled_vocab()
    assert any(ranks[bytes([b])] != b for b in range(256))
    path = tmp_path/'shuffled.tiktoken'
    path.write_bytes(b''.join(base64.b64encode(t) + b' ' + str(r).encode() + b'\n' for t, r in ranks.items()))
    assert read_tiktoken(path) == ranks
    t = BPETokenizer.from_tiktoken(path, GPT2_SPLIT_PATTERN, {'<|endoftext|>': len(ranks)})
    assert t.mergeable_ranks == ranks and len(t.merges) == len(ranks) - 256
    enc = tiktoken.Encoding('t', pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens={'<|endoftext|>': len(ranks)})
    rng = random.Random(8)
    for s in [load_text()[-20_000:]] + [random_unicode(rng, rng.randrange(1, 80)) for _ in range(500)]:
        assert t.encode(s) == enc.encode(s) and t.decode(t.encode(s)) == s
    t.save(tmp_path/'t.json')
    back = BPETokenizer.load(tmp_path/'t.json')
    assert (back.mergeable_ranks, back.merges, back.special_tokens) == (t.mergeable_ranks, t.merges, t.special_tokens)
    assert BPETokenizer.from_tiktoken(ranks, GPT2_SPLIT_PATTERN).mergeable_ranks == ranks     # a dict works too


def test_recovered_merges_equal_the_trained_ones(tok):
    assert recover_merges(tok.mergeable_ranks) == tok.merges


@pytest.mark.parametrize('ranks, match', [
    ({**{bytes([i]): i for i in range(256)}, b'abc': 256}, r"b'abc' \(rank 256\) is not two tokens of lower rank"),
    ({bytes([i]): i for i in range(255)}, r"the single byte b'\\xff' has no rank"),
    ({**{bytes([i]): i for i in range(256)}, b'ab': 300}, 'the 257 ranks must be 0..256'),
])
def test_from_tiktoken_rejects_what_no_merges_can_make(ranks, match):
    with pytest.raises(BPEFileError, match=match): BPETokenizer.from_tiktoken(ranks, GPT2_SPLIT_PATTERN)


@pytest.mark.parametrize('content, match', [(b'IQ== 0\nnot-base64! 1\n', 'line 2'), (b'IQ== 0\nIg==\n', 'line 2'),
                                            (b'IQ== zero\n', 'line 1'), (b'IQ== 0\nIQ== 1\n', 'line 2 repeats')])
def test_read_tiktoken_malformed(tmp_path, content, match):
    path = tmp_path/'bad.tiktoken'; path.write_bytes(content)
    with pytest.raises(BPEFileError, match=match) as e: read_tiktoken(path)
    assert str(path) in str(e.value)
    with pytest.raises(BPEFileError): BPETokenizer.from_tiktoken(path, GPT2_SPLIT_PATTERN)
    with pytest.raises(BPEFileError, match='Cannot read'): read_tiktoken(tmp_path/'missing.tiktoken')


# --- GPT-2's own vocabulary, from $GPT_COURSE_GPT2_RANKS (never downloaded in tests) ---

@pytest.fixture(scope='module')
def gpt2():
    if not os.environ.get(GPT2_RANKS_ENV): pytest.skip(f'{GPT2_RANKS_ENV} is not set (tools/test.sh sets it)')
    return gpt2_tokenizer()

@pytest.fixture(scope='module')
def gpt2_tiktoken(gpt2):
    tiktoken = pytest.importorskip('tiktoken')
    from tiktoken_ext.openai_public import r50k_pat_str                 # tiktoken's own GPT-2 pattern
    return tiktoken.Encoding('gpt2', pat_str=r50k_pat_str, mergeable_ranks=read_tiktoken(gpt2_ranks_file()),
                             special_tokens=GPT2_SPECIAL_TOKENS, explicit_n_vocab=50257)


def test_gpt2_vocabulary_loads(gpt2):
    assert gpt2.vocab_size == 50257 and len(gpt2.merges) == 50_000 and gpt2.special_tokens == {'<|endoftext|>': 50256}
    assert gpt2.mergeable_ranks[b'!'] == 0 and gpt2.mergeable_ranks[b'a'] == 64          # single bytes out of byte order
    assert gpt2.encode("Hello, I'm a language model,") == [15496, 11, 314, 1101, 257, 3303, 2746, 11]


def test_gpt2_equals_tiktoken_on_all_of_shakespeare(gpt2, gpt2_tiktoken):
    text = load_text()
    ids = gpt2.encode(text)
    assert ids == gpt2_tiktoken.encode(text) and len(ids) > 300_000
    assert gpt2.decode(ids) == text


def test_gpt2_equals_tiktoken_on_random_unicode(gpt2, gpt2_tiktoken):
    rng, n = random.Random(9), 0
    for _ in range(4000):
        s = random_unicode(rng, rng.randrange(1, 80))
        if rng.random() < 0.1: s += ' ' * rng.randrange(2, 300) + ''.join(rng.choice('0123456789') for _ in range(rng.randrange(2, 300)))
        ids = gpt2.encode(s)
        assert ids == gpt2_tiktoken.encode(s), s
        assert gpt2.decode(ids) == s
        n += len(s)
    assert n > 150_000


def test_gpt2_special_token(gpt2, gpt2_tiktoken):
    doc = "The end.<|endoftext|>A new start"
    for kw in ({'allowed_special': 'all'}, {'allowed_special': {'<|endoftext|>'}}, {'disallowed_special': ()}):
        assert gpt2.encode(doc, **kw) == gpt2_tiktoken.encode(doc, **kw)
    assert 50256 in gpt2.encode(doc, allowed_special='all') and 50256 not in gpt2.encode(doc, disallowed_special=())
    for t in (gpt2, gpt2_tiktoken):
        with pytest.raises(ValueError, match='disallowed'): t.encode(doc)
    assert gpt2.encode_ordinary(doc) == gpt2_tiktoken.encode_ordinary(doc)


def test_gpt2_save_load_round_trip(gpt2, tmp_path):
    gpt2.save(tmp_path/'gpt2.json')
    back = BPETokenizer.load(tmp_path/'gpt2.json')
    assert (back.mergeable_ranks, back.merges, back.special_tokens, back.pattern) == \
           (gpt2.mergeable_ranks, gpt2.merges, gpt2.special_tokens, gpt2.pattern)
    d = json.loads((tmp_path/'gpt2.json').read_text())
    assert d['version'] == 2 and d['kind'] == 'bpe'
    assert BPETokenizer.from_dict(d).vocab_size == 50257


# --- where GPT-2's ranks come from ---

def test_gpt2_ranks_file_from_the_variable(monkeypatch, tmp_path):
    f = tmp_path/'ranks.tiktoken'; f.write_bytes(b'IQ== 0\n')
    monkeypatch.setenv(GPT2_RANKS_ENV, str(f))
    assert gpt2_ranks_file() == f
    monkeypatch.setenv(GPT2_RANKS_ENV, str(tmp_path/'nowhere.tiktoken'))
    with pytest.raises(FileNotFoundError, match=f'{GPT2_RANKS_ENV}=.*nowhere.tiktoken'): gpt2_ranks_file()


def test_gpt2_ranks_file_offline_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(GPT2_RANKS_ENV, raising=False)
    monkeypatch.setenv('TIKTOKEN_CACHE_DIR', str(tmp_path/'cache'))
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=f'downloading .* failed .*{GPT2_RANKS_ENV}='):
        gpt2_ranks_file(url='http://127.0.0.1:9/r50k_base.tiktoken')             # port 9 (discard): refused at once
    assert time.perf_counter() - t0 < 30
    assert not list((tmp_path/'cache').glob('*'))                                 # nothing half-written is left


def test_gpt2_ranks_file_downloads_into_tiktokens_cache(monkeypatch, tmp_path):
    if not os.environ.get(GPT2_RANKS_ENV): pytest.skip(f'{GPT2_RANKS_ENV} is not set')
    src = tmp_path/'served'/'r50k_base.tiktoken'; src.parent.mkdir()
    src.write_bytes(Path(os.environ[GPT2_RANKS_ENV]).read_bytes())
    monkeypatch.delenv(GPT2_RANKS_ENV)
    monkeypatch.setenv('TIKTOKEN_CACHE_DIR', str(tmp_path/'cache'))
    url = src.as_uri()                                                            # a local "download", no network
    got = gpt2_ranks_file(url=url)
    assert got == tiktoken_cache_file(url) and got.parent == tmp_path/'cache' and got.read_bytes() == src.read_bytes()
    src.unlink()                                                                  # gone from the "server"...
    assert gpt2_ranks_file(url=url) == got                                        # ...the cached copy serves
    (tmp_path/'bad.tiktoken').write_bytes(b'IQ== 0\n')
    with pytest.raises(ValueError, match='MD5'): gpt2_ranks_file(url=(tmp_path/'bad.tiktoken').as_uri())


def test_tokenizer_interface(tok):
    assert BPETokenizer.kind == 'bpe' and tok.kind == 'bpe'
    assert isinstance(tok.vocab_size, int) and tok.vocab_size == 512
    d = json.loads(json.dumps(tok.to_dict()))                                    # JSON-serialisable
    assert d['kind'] == 'bpe' and d['version'] == BPETokenizer.VERSION == 2
    back = BPETokenizer.from_dict(d)
    assert back.encode("To be, or not to be") == tok.encode("To be, or not to be")
    assert back.decode(tok.encode("To be, or not to be")) == "To be, or not to be"
    for bad in ([], {**d, 'kind': 'char'}, {**d, 'merges': d['merges'][:-1]}, {**d, 'pattern': r'\w+'}):
        with pytest.raises(BPEFileError, match='Cannot load BPE tokenizer from a dict'): BPETokenizer.from_dict(bad)
    with pytest.raises(BPEFileError, match='from checkpoint.pt'): BPETokenizer.from_dict([], source='checkpoint.pt')


def test_version_1_file_still_loads(tok, tmp_path):
    d = tok.to_dict()
    v1 = {'format': d['format'], 'version': 1, 'pattern': d['pattern'], 'merges': d['merges'],
          'mergeable_ranks': d['mergeable_ranks']}                               # exactly what version 1 wrote
    (tmp_path/'v1.json').write_text(json.dumps(v1), encoding='utf-8')
    back = BPETokenizer.load(tmp_path/'v1.json')
    assert (back.merges, back.mergeable_ranks, back.special_tokens) == (tok.merges, tok.mergeable_ranks, {})
