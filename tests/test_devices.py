"""Device and precision selection on hardware this machine does not have, with PyTorch's device queries patched:
T4 (sm75), V100 (sm70), A100 (sm80), H100 (sm90), Apple MPS, and CPUs with and without native bf16.
Also the static device check over the lessons (tools/check_devices.py) on code that has each kind of bug."""
import json, subprocess, sys, warnings
from pathlib import Path
import pytest, torch
import gpt_course.devices as devices
from gpt_course.devices import choose_precision, make_scaler, resolve_device

ROOT = Path(__file__).resolve().parent.parent
GPUS = {'T4': (7, 5), 'V100': (7, 0), 'A100': (8, 0), 'H100': (9, 0)}

@pytest.fixture
def gpu(monkeypatch):
    "Pretend a CUDA GPU of the given name is present."
    def use(name):
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
        monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
        monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda d=None: GPUS[name])
        monkeypatch.setattr(torch.cuda, 'get_device_name', lambda d=None: f'Tesla {name}')
        monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: True)   # what a T4 really answers
    return use

@pytest.mark.parametrize('name, auto', [('T4', 'fp16'), ('V100', 'fp16'), ('A100', 'bf16'), ('H100', 'bf16')])
def test_cuda_precision_by_compute_capability(gpu, name, auto):
    gpu(name)
    assert resolve_device('auto') == torch.device('cuda')
    assert choose_precision('cuda') == auto
    assert choose_precision('cuda', 'fp32') == 'fp32' and choose_precision('cuda', 'fp16') == 'fp16'
    if auto == 'fp16':   # never bf16 on a T4 or V100, although torch.cuda.is_bf16_supported() says True there
        with pytest.raises(ValueError, match=f"Tesla {name} has no bf16 tensor cores"): choose_precision('cuda', 'bf16')
    else: assert choose_precision('cuda', 'bf16') == 'bf16'

def test_cuda_index_out_of_range(gpu):
    gpu('T4')
    with pytest.raises(ValueError, match="has 1 CUDA GPU"): resolve_device('cuda:3')
    assert resolve_device('cuda:0') == torch.device('cuda:0')

def test_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(devices, 'mps_available', lambda: True)
    assert resolve_device('auto') == torch.device('mps') and resolve_device('mps') == torch.device('mps')
    assert choose_precision('mps') == 'fp32'
    for p in ('bf16', 'fp16'):
        with pytest.raises(ValueError, match="on Apple MPS"): choose_precision('mps', p)

@pytest.mark.parametrize('native', [True, False])
def test_cpu_precision(monkeypatch, native):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(devices, 'mps_available', lambda: False)
    monkeypatch.setattr(devices, 'cpu_has_native_bf16', lambda: native)
    assert resolve_device('auto') == torch.device('cpu')
    assert choose_precision('cpu') == 'fp32'
    with pytest.raises(ValueError, match='needs a CUDA GPU'): choose_precision('cpu', 'fp16')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        assert choose_precision('cpu', 'bf16') == ('bf16' if native else 'fp32')
    assert bool(w) == (not native)

def test_no_gpu_here_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(devices, 'mps_available', lambda: False)
    for dev, msg in [('cuda', 'no CUDA GPU'), ('mps', 'MPS backend is not available'), ('tpu', 'not a device name'),
                     ('meta', "runs on 'cpu', 'cuda' or 'mps'")]:
        with pytest.raises(ValueError, match=msg): resolve_device(dev)

def test_scaler_only_for_fp16():
    assert not make_scaler('fp32').is_enabled() and not make_scaler('bf16').is_enabled()

def _nb(tmp_path, *cells):
    nb = {'cells': [{'cell_type': 'code', 'metadata': {}, 'source': c, 'outputs': [], 'execution_count': None} for c in cells],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    p = tmp_path/'lesson.ipynb'; p.write_text(json.dumps(nb)); return p

def test_device_check_catches_each_kind_of_bug(tmp_path):
    bad = _nb(tmp_path, "idx = torch.tensor([tok.encode(context)])",                  # lesson 07's old prompt bug
                        "assert 0 < f < 1.5 * measure_peak_flops('cpu', 'fp32')",     # lesson 08's CPU peak
                        "assert 'precision fp32' in text")                            # lesson 09's string
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'check_devices.py'), str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout.count('lesson.ipynb') == 3, r.stdout
    good = _nb(tmp_path, "if 'google.colab' in sys.modules:\n    %pip install -q gpt_course",
                         "idx = torch.tensor([tok.encode(context)], device=device)",
                         "class M(nn.Module):\n    def __init__(self): self.w = nn.Parameter(torch.zeros(3))",
                         "assert choose_precision(device) in ('fp32', 'bf16', 'fp16')  # any device")
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'check_devices.py'), str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
