"""Test session set-up."""

import os

# scikit-learn's check_array_api_input runs only when SciPy's array-API
# support is switched on, which SciPy reads once, at import. Switch it on
# before anything imports SciPy so that the common checks skip nothing.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
