"""The page in a real browser: Debian's headless Chromium, driven by Playwright, offline.

Skips when Chromium (apt package `chromium`) or the `playwright` Python package is missing;
Playwright's own browser download is never used, only /usr/bin/chromium.
"""

from __future__ import annotations

import shutil

import pytest

from reports import build_report
from reports.demo import sample_grid, write_result, write_trace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Chromium not installed (apt-get install chromium); browser tests need it", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

EVIL = '<script>window.__pwned = 1</script><img src="https://example.com/x.png" onerror="window.__pwned = 2">'
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    (root / "samples").mkdir()
    for i, (backend, step) in enumerate([("torch", 0.1), ("mxnet", 0.08)]):
        sample_grid(i, 28, 1, n=4).save(root / "samples" / f"{backend}.png")
        write_result(
            root,
            f"{backend}.json",
            backend=backend,
            model="paddle-dcgan28",
            data_source="real",
            step_times_s=[step * (1 + 0.01 * (k % 5)) for k in range(20)],
            samples_png=f"samples/{backend}.png",
        )
    write_result(root, "synthetic.json", backend="jax", model="paddle-dcgan28", data_source="synthetic")
    write_result(
        root,
        "evil.json",
        backend=EVIL,
        model="paddle-dcgan28",
        status="failed",
        images_per_s=None,
        error={"type": "RuntimeError", "message": EVIL, "traceback": EVIL},
    )
    write_trace(root, "torch", "paddle-dcgan28", [1.0, 0.9], [2.0, 2.1])
    write_trace(root, "mxnet", "paddle-dcgan28", [1.0, 0.91], [2.0, 2.1])
    return build_report(root).html


@pytest.fixture(scope="module")
def loaded(page_file):
    """The page loaded offline, with every request and console message it caused."""
    requests, console = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(page_file.as_uri(), wait_until="load")
        widths = page.evaluate(
            "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth, () => 0)))"
        )
        state = page.evaluate(
            "({pwned: window.__pwned, scripts: document.scripts.length, text: document.body.innerText})"
        )
        # The control: the same watch does see a page that asks for something remote.
        control = page_file.with_name("control.html")
        control.write_text('<img src="https://example.com/x.png">')
        seen, said = len(requests), len(console)
        page.goto(control.as_uri(), wait_until="load")
        control_requests = requests[seen:]
        del requests[seen:], console[said:]
        browser.close()
    return {"requests": requests, "console": console, "widths": widths, "control": control_requests, **state}


def test_every_image_decodes(loaded):
    # throughput, step times, losses, samples (real); throughput, step times, losses (synthetic); parity;
    # the speed-up heat map of each setting (real, synthetic)
    assert len(loaded["widths"]) == 8 + 2
    assert all(w > 0 for w in loaded["widths"]), loaded["widths"]


def test_no_network_request(loaded, page_file):
    others = [u for u in loaded["requests"] if u != page_file.as_uri() and not u.startswith("data:")]
    assert others == []
    assert "https://example.com/x.png" in loaded["control"]
    assert not [m for m in loaded["console"] if m.startswith("error")], loaded["console"]


def test_markup_from_results_shows_as_text_and_runs_nothing(loaded):
    assert loaded["pwned"] is None
    assert loaded["scripts"] == 0
    assert EVIL in loaded["text"]  # the backend name and the error, literally
    assert "RuntimeError: " + EVIL in loaded["text"]


def test_synthetic_runs_are_labelled(loaded):
    assert "synthetic data" in loaded["text"]
    assert "SYNTHETIC DATA" not in loaded["text"]  # the capitals are in the charts, not the text


def test_the_demo_page_at_1024_px(tmp_path):
    """The demo page in a 1024 px window: no sideways page scroll, every count in the navigation
    equal to its section heading's, and the invented numbers marked as such."""
    from reports.demo import DEMO_MARK, write_demo

    write_demo(tmp_path)
    html = build_report(tmp_path).html
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(offline=True, viewport={"width": 1024, "height": 800}).new_page()
        page.goto(html.as_uri(), wait_until="load")
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        counts = page.evaluate("""[...document.querySelectorAll('nav a, .nav a, p a[href^="#"]')]
            .map(a => [a.textContent, (document.querySelector(a.getAttribute('href') + ' h2') || {}).textContent])
            .filter(([t, h]) => /\\(\\d+\\)/.test(t) && h)""")
        title = page.title()
        # the summary tables themselves fit (their details table sits behind a disclosure)
        summaries = page.evaluate("""[...document.querySelectorAll('#summary .scroll')]
            .filter(d => !d.closest('details')).map(d => [d.scrollWidth, d.clientWidth])""")
        browser.close()
    assert scroll <= client, f"the page scrolls sideways at 1024 px ({scroll} > {client})"
    assert summaries and all(w <= c for w, c in summaries), summaries
    assert counts, "no counted navigation link found"
    for link, heading in counts:
        assert link[link.rindex("(") :] in heading, (link, heading)
    assert title.startswith(DEMO_MARK)
    assert html.read_text().count(DEMO_MARK) >= 1 and 'class="demo"' in html.read_text()
