"""Every exported module imports on its own, and every name it exports exists.

Catches the classic nbdev bug: exported code that leans on a name only the notebook defined."""
import importlib, subprocess, sys
import pytest
from gpt_course._modidx import d

MODULES = sorted({v[1].split('.py')[0].replace('/', '.') for v in d['syms'].values() for v in v.values()})

def test_modules_found():
    assert 'gpt_course.data' in MODULES and 'gpt_course.bigram' in MODULES

@pytest.mark.parametrize('mod', MODULES)
def test_module_imports_in_fresh_interpreter(mod):
    r = subprocess.run([sys.executable, '-c', f'import {mod}'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

@pytest.mark.parametrize('mod', MODULES)
def test_exported_names_exist(mod):
    m = importlib.import_module(mod)
    assert m.__all__, f'{mod} exports nothing'
    for name in m.__all__: assert hasattr(m, name), f'{mod}.__all__ names {name} but it is not defined'
