"""torch is optional: `import dstore` never imports it (only `import dstore.torch` does, tested
in test_torch.py when torch is installed). Runs with or without torch."""

import subprocess
import sys


def test_import_dstore_does_not_import_torch():
    code = "import sys, dstore; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
