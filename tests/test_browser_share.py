"""Links that restore a view, end to end in a real browser (Debian's Chromium via Playwright,
as tests/test_browser.py): box-select models on the Overview, read the sidebar's link to this
view, open it in a fresh browser context (a colleague's), and find the same selection and
figures; a malformed link shows a note and the defaults, never an error."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from browser_helpers import (
    BROWSER_MARKS,
    SELECTED_MODELS_JS,
    STEP_MS,
    VIEWPORT,
    box_select,
    eventually,
    model_ids,
    plot_with_title,
    selectbox_value,
    split_box,
    wait_for_sidebar_count,
)

pytestmark = BROWSER_MARKS

_RING_JS = SELECTED_MODELS_JS


def _new_page(browser, errors: list):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, \
        page.locator("[data-testid=stException]").first.inner_text()


def _link(page) -> str:
    # The link sits in a collapsed expander: its text is read without opening it.
    return page.locator("[data-testid=stSidebar] [data-testid=stCode] pre").text_content().strip()


def test_a_copied_link_opens_the_same_view_in_a_fresh_browser(browser, app_url):
    errors: list[str] = []
    page = _new_page(browser, errors)
    page.goto(app_url)
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    similarity = plot_with_title(page, "Geometric similarity")
    similarity.scroll_into_view_if_needed()
    box, ids = split_box(similarity)
    chosen = model_ids(ids)
    box_select(page, similarity, box)
    wait_for_sidebar_count(page, "selected models", len(chosen))

    def link_carries_the_selection():
        query = parse_qs(urlparse(_link(page)).query)
        assert sorted(query.get("models", [""])[0].split(",")) == chosen, _link(page)
        return _link(page)
    link = eventually(link_carries_the_selection)
    assert link.startswith(app_url)
    # The address bar carries the same view.
    eventually(lambda: _same_query(page.url, link))
    _no_exception(page)
    page.context.close()

    colleague = _new_page(browser, errors)  # a fresh context: no cookies, no session
    colleague.goto(link)
    colleague.get_by_role("heading", name="Overview", level=1).wait_for()
    wait_for_sidebar_count(colleague, "selected models", len(chosen))

    def ringed():
        assert plot_with_title(colleague, "Geometric similarity").evaluate(_RING_JS) == chosen
    eventually(ringed)
    plot_with_title(colleague, "Accuracy vs pruning ratio")
    assert colleague.locator("[data-testid=stAlertContentWarning]").count() == 0
    _no_exception(colleague)

    # On the Geometry page the first linked model is in focus, and its link names it too.
    colleague.locator("[data-testid=stSidebarNav] a", has_text="Geometry").click()
    colleague.get_by_role("heading", name="Geometry", level=1).wait_for()
    model = selectbox_value(colleague, "Model")
    assert model in chosen
    eventually(lambda: _assert_in("/samples-geometry?", _link(colleague)))
    colleague.context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def _same_query(url: str, link: str) -> None:
    assert parse_qs(urlparse(url).query) == parse_qs(urlparse(link).query)


def _assert_in(fragment: str, text: str) -> None:
    assert fragment in text, text


def test_a_malformed_link_shows_a_note_and_the_defaults(browser, app_url):
    errors: list[str] = []
    page = _new_page(browser, errors)
    page.goto(f"{app_url}/samples-geometry?models=no-such-model&samples=1-3,zz,0-9999999"
              "&class=abc&reference=%3Cscript%3E&nonsense=1")
    page.get_by_role("heading", name="Geometry", level=1).wait_for()
    note = page.locator("[data-testid=stAlertContentWarning]").first
    note.wait_for()
    text = note.inner_text()
    assert "could not be restored" in text
    dropped = page.locator("[data-testid=stAlertContentInfo]").filter(
        has_text="Dropped what this database does not hold")
    assert "1 of 1 selected model id(s) (no-such-model)" in dropped.first.inner_text()
    assert "samples names 10,000,003 ids" in text and "Ignored class = abc" in text
    assert "1 unknown link parameter(s): nonsense" in text
    plot_with_title(page, "grey correct, red misclassified")  # the default model's scatter
    _no_exception(page)
    page.context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
