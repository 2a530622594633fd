"""The notebook representation's links to the API pages (``_doc_links``):
drawn for the documentation URL the package declares, absent without one."""

import email.message
import pathlib

import pytest
import sklearn
from sklearn.utils.fixes import parse_version

from skseq import _doc_links
from skseq.utils import all_estimators

DOCS = "https://docs.example.org/skseq"
SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)


@pytest.fixture
def declared_url(monkeypatch):
    """The package declaring DOCS as its documentation URL."""
    monkeypatch.setattr(_doc_links, "documentation_url", lambda: DOCS)


@pytest.mark.parametrize("name, cls", all_estimators())
def test_no_documentation_url_draws_no_link(name, cls, monkeypatch):
    monkeypatch.setattr(_doc_links, "documentation_url", lambda: "")
    estimator = cls()
    assert estimator._get_doc_link() == ""
    assert "href=" not in estimator._repr_html_()


@pytest.mark.parametrize("name, cls", all_estimators())
def test_declared_url_links_the_estimator_and_its_parameters(name, cls, declared_url):
    estimator = cls(hidden_layer_sizes=(8,))
    page = f"{DOCS}/generated/skseq.{name}.html"
    assert estimator._get_doc_link() == page
    html = estimator._repr_html_()
    assert page in html
    if SKLEARN_VERSION < parse_version("1.8"):
        # scikit-learn draws parameter links from 1.8 on; before, the
        # estimator's own link is all there is.
        assert "param-doc-link" not in html
        return
    # Each parameter name links into the page, its docstring as a tooltip.
    n_params = len(estimator.get_params())
    assert html.count('<a class="param-doc-link"') == n_params
    assert html.count(f'href="{page}#:~:text=') == n_params
    assert "Number of units H of each stacked" in html


def test_a_template_set_on_the_estimator_wins(declared_url):
    (_, cls), *_ = all_estimators()
    estimator = cls()
    estimator._doc_link_template = "https://mirror.example/{estimator_name}"
    assert estimator._get_doc_link() == f"https://mirror.example/{cls.__name__}"


@pytest.mark.parametrize(
    "entries, url",
    [
        (["Homepage, https://a.example", "Documentation, https://d.example/x/"],
         "https://d.example/x"),
        (["Docs, https://d.example"], "https://d.example"),
        (["Homepage, https://a.example"], ""),
        ([], ""),
    ],
)  # fmt: skip
def test_documentation_url_reads_the_project_urls(entries, url, monkeypatch):
    message = email.message.Message()
    for entry in entries:
        message["Project-URL"] = entry
    monkeypatch.setattr(_doc_links.metadata, "metadata", lambda name: message)
    _doc_links.documentation_url.cache_clear()
    try:
        assert _doc_links.documentation_url() == url
    finally:
        _doc_links.documentation_url.cache_clear()


def test_every_public_estimator_has_its_generated_page():
    """The link target: doc/api.rst generates a page per public estimator."""
    api = (pathlib.Path(__file__).parents[1] / "doc" / "api.rst").read_text()
    for name, _ in all_estimators():
        assert f"\n   {name}\n" in api
