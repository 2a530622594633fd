"""Sphinx configuration of the skseq documentation.

Build from this directory with ``make html`` (or see the Makefile for the
plain ``python -m sphinx`` command). skseq must be importable, with its
compiled extension: either installed (``pip install .``) or built in place
(``python setup.py build_ext --inplace``) and put on ``PYTHONPATH``.

Environment variables read here:

``SKSEQ_DOC_INTERSPHINX=1``
    Link to the Python, NumPy, SciPy and scikit-learn documentation. This
    downloads their object inventories, so it needs network access; without
    it the build works offline and those names are shown without links.
"""

import os
from datetime import date

import skseq

# -- Project -----------------------------------------------------------------

project = "skseq"
author = "The skseq developers"
copyright = f"{date.today().year}, {author}"
release = skseq.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
autodoc_typehints = "none"

# numpydoc renders the Parameters/Attributes sections itself; the class
# template lists the methods, so numpydoc must not add a second member table.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- intersphinx -------------------------------------------------------------

if os.environ.get("SKSEQ_DOC_INTERSPHINX", "").strip() not in ("", "0"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable/", None),
        "threadpoolctl": ("https://threadpoolctl.readthedocs.io/en/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
        "pandas": ("https://pandas.pydata.org/docs/", None),
    }
else:
    intersphinx_mapping = {}

# Names that only scikit-learn's documentation defines: the glossary terms
# used in skseq's docstrings (``:term:`random_state```) and the labels used
# in the docstrings skseq's estimators inherit from scikit-learn (``score``,
# ``set_fit_request``, ...). Offline, these are shown as plain text instead
# of warning; every other unresolved reference still warns.
SKLEARN_ONLY_LABELS = {"metadata_routing", "accuracy_score", "r2_score"}


def _sklearn_reference_as_text(app, env, node, contnode):
    if intersphinx_mapping or node.get("refdomain") != "std":
        return None
    if node["reftype"] == "term" or (
        node["reftype"] == "ref" and node["reftarget"] in SKLEARN_ONLY_LABELS
    ):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", _sklearn_reference_as_text)


# -- sphinx-gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skseq",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"skseq": None},
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skseq {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
