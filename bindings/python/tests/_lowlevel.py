"""The test-only primitives (raw key, caller-chosen salt), kept out of the public API in
the private submodule ``tenantguard._native._testing``; only the vector tests use them."""

import importlib
from typing import Any

_testing: Any = getattr(importlib.import_module("tenantguard._native"), "_testing")

seal_with_salt: Any = _testing.seal_with_salt
open_with_key: Any = _testing.open_with_key
