"""Links from an estimator's notebook representation to its API page.

scikit-learn's HTML representation of an estimator links the estimator to its
documentation page and each parameter name to its entry there, with the
parameter's docstring as a tooltip, when the estimator's class says where
the pages are (``_doc_link_module`` and ``_doc_link_template``). skseq's
pages are where the package's metadata says its documentation is: the
``Documentation`` entry of ``[project.urls]`` in ``pyproject.toml``, read
from the installed distribution. An estimator's page is
``<url>/generated/skseq.<EstimatorName>.html``, as ``doc/api.rst`` generates
it. Without such an entry the template is empty and no link is drawn: no
link at all rather than one to nowhere.
"""

import functools
from importlib import metadata

# The labels of a Project-URL entry that name the documentation.
_LABELS = ("documentation", "docs")


@functools.cache
def documentation_url(distribution="skseq"):
    """The documentation URL the installed ``distribution`` declares (its
    ``Project-URL`` labelled Documentation), without a trailing slash, or ""
    when it declares none or is not installed."""
    try:
        entries = metadata.metadata(distribution).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return ""
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() in _LABELS and url.strip():
            return url.strip().rstrip("/")
    return ""


def doc_link_template(url):
    """scikit-learn's link template for the API pages under ``url`` ("" for
    none)."""
    if not url:
        return ""
    return url + "/generated/{estimator_module}.{estimator_name}.html"
