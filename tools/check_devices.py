"""Catch device bugs in the lessons without a GPU.

A lesson written on a CPU can look fine and still break on a GPU or a Mac in two ways, and a CPU-only CI run
cannot see either by executing the notebooks, because there every tensor is on the CPU anyway:

1. **A tensor made on the default device.** `torch.tensor(...)`, `torch.zeros(...)`, `torch.randn(...)`, ... without
   `device=` land on the CPU; fed to a model on the GPU they raise "Expected all tensors to be on the same device".
   Every tensor factory call in a notebook must say where the tensor lives: `device=device` (the lesson's device) or,
   for data that deliberately stays on the host, `device='cpu'`.
2. **An assert that only holds on one kind of device.** An assert, or `test_eq`/`test_close`/`test_fail` call, that
   compares against a literal naming a device or a precision (`'precision fp32' in text`, `== 'cpu'`) passes on the
   CPU and fails on a T4, which picks fp16. Compare against the value the code computes for this device
   (`choose_precision(device)`) instead.

Parameters and buffers created inside a module's `__init__` are exempt (they move with `module.to(device)`), as are
`*_like` factories (they follow their input). A line that is deliberately device-specific says so with a
`# any device` comment, e.g. a test of `choose_precision('cpu')`, which returns the same on every machine.

    python tools/check_devices.py            # every notebook under nbs/; exit status 1 and one line per finding
"""
import ast, json, re, sys
from pathlib import Path

FACTORIES = {'tensor', 'as_tensor', 'zeros', 'ones', 'empty', 'full', 'rand', 'randn', 'randint', 'randperm',
             'arange', 'linspace', 'logspace', 'eye'}
DEVICE_WORDS = re.compile(r"\b(cpu|cuda|mps|fp32|fp16|bf16)\b")
TESTS = {'test_eq', 'test_close', 'test_fail'}
PRAGMA = '# any device'

def _code(cell) -> str:
    "A cell's source with IPython magics and shell escapes blanked out, so `ast` can parse it."
    lines = ''.join(cell['source']).splitlines()
    return '\n'.join(l[:len(l) - len(l.lstrip())] + 'pass' if l.lstrip().startswith(('%', '!')) else l for l in lines)

def _is_factory(call:ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr in FACTORIES and isinstance(f.value, ast.Name) and f.value.id == 'torch')

def _strings(node) -> list:
    "The string constants in `node`, except the values of `device=` arguments (where naming a device is the point)."
    skip = {id(k.value) for n in ast.walk(node) if isinstance(n, ast.Call) for k in n.keywords if k.arg == 'device'}
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]

class Finder(ast.NodeVisitor):
    def __init__(self, lines):
        self.lines, self.found, self.in_init = lines, [], 0
    def ok(self, node): return PRAGMA in self.lines[node.lineno - 1]
    def visit_FunctionDef(self, node):
        self.in_init += node.name == '__init__'
        self.generic_visit(node)
        self.in_init -= node.name == '__init__'
    def visit_Call(self, node):
        if _is_factory(node) and not self.in_init and not any(k.arg == 'device' for k in node.keywords) and not self.ok(node):
            self.found.append((node.lineno, f"torch.{node.func.attr}(...) without device=: it lands on the CPU; "
                                            "pass device=device (or device='cpu' for host data)"))
        if isinstance(node.func, ast.Name) and node.func.id in TESTS: self.check_assert(node)
        self.generic_visit(node)
    def visit_Assert(self, node):
        self.check_assert(node.test); self.generic_visit(node)
    def check_assert(self, node):
        if self.ok(node): return
        words = sorted({w for s in _strings(node) for w in DEVICE_WORDS.findall(s)})
        if words:
            self.found.append((node.lineno, f"assert against a literal naming {', '.join(words)}: true on one kind of device "
                                            "only; compare with what the code computes for the lesson's device"))

def check_notebook(path:Path) -> list:
    "Findings as 'file cell N line L: message' strings."
    out = []
    for n, cell in enumerate(json.loads(path.read_text())['cells']):
        if cell['cell_type'] != 'code': continue
        src = _code(cell)
        try: tree = ast.parse(src)
        except SyntaxError as e:
            out.append(f"{path.name} cell {n}: cannot parse ({e.msg} at line {e.lineno})"); continue
        f = Finder(src.splitlines()); f.visit(tree)
        out += [f"{path.name} cell {n} line {line}: {msg}" for line, msg in sorted(f.found)]
    return out

def main(paths=None) -> int:
    paths = [Path(p) for p in paths] if paths else sorted(p for p in Path(__file__).resolve().parent.parent.glob('nbs/**/*.ipynb') if '.ipynb_checkpoints' not in str(p))
    found = [f for p in paths for f in check_notebook(p)]
    for f in found: print(f)
    print(f"device check: {len(paths)} notebooks, {len(found)} finding(s)")
    return 1 if found else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
