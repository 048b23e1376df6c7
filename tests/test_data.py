import os
import pytest, torch
import gpt_course.data as data
from gpt_course.data import (CharTokenizer, SHAKESPEARE_MD5, download, find_text_file, get_batch,
                             load_text, md5sum, train_val_split)

def test_load_text_from_env():
    text = load_text()
    assert len(text) == 1_115_394 and text.startswith('First Citizen:')

def test_env_pointing_at_folder(monkeypatch):
    monkeypatch.setenv('GPT_COURSE_DATA', os.path.dirname(os.environ['GPT_COURSE_DATA']))
    assert len(load_text()) == 1_115_394

def test_env_missing_file_names_variable(monkeypatch, tmp_path):
    monkeypatch.setenv('GPT_COURSE_DATA', str(tmp_path/'nope.txt'))
    with pytest.raises(FileNotFoundError, match='GPT_COURSE_DATA'): load_text()

def test_offline_without_copy_says_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.delenv('GPT_COURSE_DATA')
    monkeypatch.setenv('GPT_COURSE_CACHE', str(tmp_path))
    monkeypatch.setattr(data, 'SHAKESPEARE_URL', (tmp_path/'unreachable.txt').as_uri())  # no network in tests
    with pytest.raises(FileNotFoundError) as e: load_text()
    assert 'GPT_COURSE_DATA' in str(e.value) and str(tmp_path/'tinyshakespeare.txt') in str(e.value)
    assert os.listdir(tmp_path) == []                      # no partial file left in the cache

def test_corrupt_cache_is_replaced_by_verified_download(monkeypatch, tmp_path):
    src = find_text_file()
    monkeypatch.delenv('GPT_COURSE_DATA')
    monkeypatch.setenv('GPT_COURSE_CACHE', str(tmp_path))
    (tmp_path/'tinyshakespeare.txt').write_text('truncated')
    monkeypatch.setattr(data, 'SHAKESPEARE_URL', src.resolve().as_uri())
    assert len(load_text()) == 1_115_394
    assert md5sum(tmp_path/'tinyshakespeare.txt') == SHAKESPEARE_MD5

def test_download_rejects_bad_checksum(tmp_path):
    with pytest.raises(ValueError, match='MD5'):
        download(find_text_file().resolve().as_uri(), tmp_path/'x.txt', md5='0'*32)
    assert os.listdir(tmp_path) == []

def test_tokenizer_round_trip_and_errors(tmp_path):
    tok = CharTokenizer.from_text("hello world\n")
    assert tok.decode(tok.encode("hello\nworld")) == "hello\nworld"
    with pytest.raises(ValueError, match=r"'é' at position 1.*'ü' at position 3"): tok.encode("hé ü")
    with pytest.raises(ValueError, match='out of range'): tok.decode([99])
    tok.save(tmp_path/'v.json')
    assert CharTokenizer.load(tmp_path/'v.json').chars == tok.chars
    with pytest.raises(ValueError): CharTokenizer(['a', 'a'])

def test_get_batch_shapes_shift_and_reproducibility():
    d = torch.arange(100)
    x, y = get_batch(d, 8, 4, generator=torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (4, 8) and torch.equal(x + 1, y)
    x2, _ = get_batch(d, 8, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)
    with pytest.raises(ValueError, match='at least 9'): get_batch(torch.arange(8), 8, 2)

def test_split():
    tr, va = train_val_split(torch.arange(100))
    assert len(tr) == 90 and len(va) == 10 and va[0] == 90
    with pytest.raises(ValueError): train_val_split(torch.arange(10), 1.5)
