"""Long organiser tasks show progress: the import form reports that it is working."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_import_form_shows_progress(live_server, new_context, make_user):
    from quizapp.extensions import db

    make_user()
    db.session.commit()
    page = new_context().new_page()
    page.goto(f"{live_server.url}/auth/login")
    page.fill("input[name=email]", "org@example.com")
    page.fill("input[name=password]", "correct-horse-1")
    page.click("form button[type=submit]")
    page.goto(f"{live_server.url}/banks/import")
    page.fill("input[name=bank_name]", "慢速题库")
    page.set_input_files(
        "input[name=file]",
        files=[
            {
                "name": "bank.csv",
                "mimeType": "text/csv",
                "buffer": "题型,题干,选项A,选项B,答案\n单选,问题,甲,乙,A\n".encode(),
            }
        ],
    )
    # Record the progress note as it appears; sessionStorage survives the navigation.
    page.evaluate("""() => new MutationObserver(() => {
        const note = document.querySelector("form[aria-busy=true] .busy[role=status]");
        if (note) sessionStorage.setItem("busySeen", note.textContent);
    }).observe(document.body, {subtree: true, childList: true})""")
    page.click("form[data-busy] button[type=submit]")
    page.wait_for_selector("form[action$='/banks/import/confirm']", timeout=10000)
    assert page.evaluate("sessionStorage.getItem('busySeen')") == "正在检查文件……"
