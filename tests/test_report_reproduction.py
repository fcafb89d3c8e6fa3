"""The reproduction section: reproduction.json files written by `python -m benchmarks reproduce`.

Every number the page shows is checked against what this test computes itself from the files it
wrote (per-step losses sliced by epoch, not the files' own per-epoch means)."""

from __future__ import annotations

import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from reports import build_report, charts, reproduction
from reports.__main__ import main
from reports.demo import write_reproduction
from reports.load import load_results

IPE = 5  # iterations per epoch of the small runs here
PUB = {
    "source": "the test's own log",
    "from_epoch": 2,
    "loss_d": [1.17, 1.28],
    "loss_g": [0.90, 1.07],
    "first_step": {"loss_d": 1.384, "loss_g": 0.693},
}
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
DIVERGED = "loss_d nan, loss_g nan at epoch 2 iteration 3; the last good checkpoint is checkpoints/epoch_001.npz"
MLP, DC = "mindspore-mlp-gan", "paddle-dcgan28"


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts (entities decoded, blanks collapsed), by class."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._table = self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = []
            self.tables.setdefault(dict(attrs).get("class") or "", []).append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def rows(table: list[list[str]]) -> dict[str, list[str]]:
    """Body rows by their first cell."""
    return {r[0]: r for r in table[1:] if r}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    # The MLP GAN on three backends: a generated curve, a flat one inside the published ranges,
    # and a subset run too short to reach the published window.
    write_reproduction(
        root,
        MLP,
        "torch",
        epochs_done=4,
        epochs_planned=6,
        iterations_per_epoch=IPE,
        published=PUB,
        seed=1,
        seconds=600.0,
    )
    flat = ([1.384] + [1.2] * (4 * IPE - 1), [0.693] + [1.0] * (4 * IPE - 1))
    write_reproduction(
        root, MLP, "mindspore", epochs_done=4, iterations_per_epoch=IPE, published=PUB, losses=flat, seed=2
    )
    write_reproduction(
        root,
        MLP,
        "jax",
        epochs_done=2,
        epochs_planned=6,
        iterations_per_epoch=IPE,
        status="running",
        device="cpu",
        subset=640,
        published=PUB,
        seed=3,
    )
    # The DCGAN: one diverged run, and one whose names and error carry markup.
    write_reproduction(
        root,
        DC,
        "paddle",
        epochs_done=2,
        epochs_planned=20,
        iterations_per_epoch=IPE,
        extra_steps=3,
        status="diverged",
        seed=4,
        error={"type": "Diverged", "message": DIVERGED},
    )
    write_reproduction(
        root,
        DC,
        EVIL,
        out=root / "reproduce" / "evil",
        epochs_done=1,
        iterations_per_epoch=IPE,
        status="failed",
        seed=5,
        data_detail=EVIL,
        error={"type": "RuntimeError", "message": EVIL},
    )
    # Two broken files: not JSON at all, and a status the schema does not have.
    (root / "reproduce" / "cut").mkdir(parents=True)
    (root / "reproduce" / "cut" / "reproduction.json").write_text('{"schema": "ganbench-reproduction", "mod')
    write_reproduction(root, MLP, "mxnet", out=root / "reproduce" / "odd", status="exploded")
    outcome = build_report(root, root / "out" / "report.html")
    html = outcome.html.read_text(encoding="utf-8")
    section = html[html.index('<section id="reproductions">') :]
    section = section[: section.index("</section>")]
    return root, outcome, html, section


def doc(root: Path, name: str) -> dict:
    return json.loads((root / "reproduce" / name / "reproduction.json").read_text())


def test_reproductions_are_recognised_and_only_the_broken_files_warn(built):
    root, outcome, html, _ = built
    assert outcome.reproductions == 5 and outcome.runs == 0
    assert sorted(outcome.warnings) == sorted(
        [
            "reproduce/cut/reproduction.json: not valid JSON: Unterminated string starting at (line 1, column 37)",
            "reproduce/odd/reproduction.json: key 'status' must be one of 'running', 'completed', 'diverged', "
            "'collapsed', 'failed', got 'exploded'",
        ]
    )
    assert "not a ganbench result" not in html
    # The rest renders: both models, every valid run, warnings listed on the page.
    assert "reproduce/odd/reproduction.json: key &#39;status&#39; must be one of" in html
    assert html.count('<div class="card">') + html.count('<div class="card stopped">') == 5
    assert 'href="#reproductions"' in html and "5 reproduction(s)" in html
    # the navigation counts what the section heading counts (not the two model groups)
    assert '<a href="#reproductions">Reproductions (5)</a>' in html
    assert "the tutorials' full training (5)</h2>" in html


def test_summary_table_numbers(built):
    root, _, _, section = built
    tables = Tables(section).tables["repro-table"]
    dc, mlp = rows(tables[0]), rows(tables[1])  # the tutorials' order: the Paddle DCGAN first
    assert list(mlp) == ["torch (cuda)", "jax (cpu)", "mindspore (cuda)"]  # the baseline first
    for label, name in [
        ("torch (cuda)", f"{MLP}__torch"),
        ("mindspore (cuda)", f"{MLP}__mindspore"),
        ("jax (cpu)", f"{MLP}__jax"),
    ]:
        d = doc(root, name)
        cells = mlp[label]
        done = d["epochs_done"]
        last = slice((done - 1) * IPE, done * IPE)
        assert cells[3] == f"{done} / {d['epochs_planned']}"
        assert cells[4] == f"{IPE} × 128"
        assert cells[6] == str(done - 1)
        assert cells[7] == f"{np.mean(d['losses']['d'][last]):.3f}"
        assert cells[8] == f"{np.mean(d['losses']['g'][last]):.3f}"
        m = d["metrics"][-1]
        assert cells[9] == f"{m['swd']['mean']:.1f}"
        assert cells[10] == f"{m['frechet_mnist']:.2f}"
        assert cells[11] == f"{sum(c >= 10 for c in m['class_histogram'])}/10"
        assert cells[12] == f"{d['seconds'] / 60:.1f} min"
    assert mlp["torch (cuda)"][12] == "10.0 min"
    assert "subset: first 640" in mlp["jax (cpu)"][5]
    assert dc["paddle (cuda)"][2] == "diverged" and dc["paddle (cuda)"][3] == "2 / 20"


def test_published_comparison(built):
    root, _, _, section = built
    table = rows(Tables(section).tables["published"][0])

    def verdict(value, lo, hi):
        if lo <= value <= hi:
            return "within"
        return f"above by {value - hi:.3f}" if value > hi else f"below by {lo - value:.3f}"

    for label, name in [("torch (cuda)", f"{MLP}__torch"), ("mindspore (cuda)", f"{MLP}__mindspore")]:
        d = doc(root, name)
        # Epochs 2 and 3 are the window (from_epoch 2): the mean over those iterations.
        window = slice(2 * IPE, 4 * IPE)
        mean_d, mean_g = np.mean(d["losses"]["d"][window]), np.mean(d["losses"]["g"][window])
        cells = table[label]
        assert cells[1] == "epochs 2–3 (2 epochs)"
        assert cells[2] == f"{mean_d:.3f}" and cells[3] == f"{verdict(mean_d, 1.17, 1.28)} [1.17–1.28]"
        assert cells[4] == f"{mean_g:.3f}" and cells[5] == f"{verdict(mean_g, 0.9, 1.07)} [0.9–1.07]"
        d0, g0 = d["losses"]["d"][0], d["losses"]["g"][0]
        close_d = "close" if abs(d0 - 1.384) <= 0.05 * 1.384 else "differs"
        assert cells[6] == f"{d0:.3f} ({d0 - 1.384:+.3f}) {close_d}"
        assert cells[7].startswith(f"{g0:.3f} ({g0 - 0.693:+.3f})")
    assert table["mindspore (cuda)"][3].startswith("within") and table["mindspore (cuda)"][5].startswith("within")
    assert table["mindspore (cuda)"][2] == "1.200"


def test_a_run_short_of_the_published_window_is_compared_on_its_last_epoch_and_says_so(built):
    root, _, _, section = built
    d = doc(root, f"{MLP}__jax")
    cells = rows(Tables(section).tables["published"][0])["jax (cpu) subset"]
    assert cells[1] == "epoch 1 (last epoch only)"
    assert cells[2] == f"{np.mean(d['losses']['d'][IPE : 2 * IPE]):.3f}"
    assert (
        "jax (cpu): the run has not reached the published window (epochs ≥ 2): it has 2 completed "
        "epoch(s), so its last epoch (1) is compared."
    ) in section


def test_subset_is_shown_loudly(built):
    section = built[3]
    assert '<p class="subset-banner">SUBSET: jax (cpu) used only the first 640 images' in section
    assert "SUBSET: only the first 640 images" in section
    assert "not comparable with the published ones" in section


def test_diverged_run_shows_its_status_and_message(built):
    section = built[3]
    box = section[section.index('<div class="stopbox"><strong>paddle (cuda)') :]
    box = box[: box.index("</div>")]
    assert '<span class="badge st-diverged">DIVERGED</span>' in box
    assert "after 2 of 20 epochs" in box and "a loss became non-finite" in box
    assert f"<pre>Diverged: {DIVERGED}</pre>" in box
    # Its losses up to the non-finite step are kept: 2 epochs and 3 iterations.
    assert '<div class="card stopped">' in section
    assert "jax (cpu)</strong> is not finished" in section  # the running run says so too


def test_markup_in_names_and_errors_is_escaped(built):
    _, _, html, section = built
    assert "<script" not in html and "<img src=x" not in html
    escaped = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;"
    assert f"<pre>RuntimeError: {escaped}</pre>" in section
    assert f"{escaped} (cuda)" in section  # the label, in the table, the card and the stop box
    assert section.count(escaped) >= 5


def test_last_grid_and_gif_are_embedded(built):
    root, _, _, section = built
    # Four runs ended and wrote progress.gif; the running one has none yet and says so.
    assert section.count('src="data:image/gif;base64,') == 4
    # the page embeds a short animation and links the whole file beside the reproduction
    assert section.count("every epoch</a>") == 4 and 'href="../reproduce/' in section
    assert section.count("last progress grid: epoch") == 5
    assert "no progress.gif (it is written when the run ends)" in section
    assert "last progress grid: epoch 3" in section and "last progress grid: epoch 1" in section
    hist = doc(root, f"{MLP}__torch")["metrics"][-1]["class_histogram"]
    assert "Predicted digits</strong>, epoch 3 (1000 samples): " + " · ".join(
        f"<span>{i}: {c}</span>" for i, c in enumerate(hist)
    ) in " ".join(section.split())


def test_the_embedded_animation_is_cut_to_a_few_small_frames(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (600, 500), (k, 255 - k, 40)) for k in range(0, 250, 5)]  # 50 frames
    frames[0].save(tmp_path / "progress.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    small, n = reproduction.small_animation(tmp_path / "progress.gif")
    with Image.open(io.BytesIO(small)) as gif:
        assert n == gif.n_frames == reproduction.ANIMATION_FRAMES
        assert max(gif.size) == reproduction.ANIMATION_SIDE
        gif.seek(n - 1)
        assert gif.convert("RGB").getpixel((0, 0))[0] >= 240  # the last epoch's frame is among them


def test_page_is_self_contained(built):
    html = built[2]
    assert 'src="http' not in html and 'href="http' not in html
    assert html.count('alt="Reproduction losses of every backend') == 2
    assert html.count('alt="Per-epoch losses and metrics of every backend') == 2


def test_a_large_gif_is_not_embedded_and_the_page_says_so(built, monkeypatch):
    root = built[0]
    rep = next(r for r in load_results(root).reproductions if r["backend"] == "torch")
    size = rep.gif.stat().st_size
    monkeypatch.setattr(reproduction, "GIF_MAX_BYTES", size - 1)
    item = reproduction.item(rep)
    assert item["gif_uri"] is None and item["grid_uri"].startswith("data:image/png;base64,")
    assert item["gif_note"] == (
        f"progress.gif is {size / 2**20:.1f} MiB, over the "
        f"{(size - 1) / 2**20:.0f} MiB limit for embedding: only the last grid is shown"
    )


def test_broken_nested_parts_warn_and_keep_the_run(tmp_path):
    path = write_reproduction(tmp_path, MLP, "torch", epochs_done=3, iterations_per_epoch=IPE)
    d = json.loads(path.read_text())
    d["metrics"][1]["frechet_mnist"] = "high"
    d["published"] = {"from_epoch": 2, "loss_d": [1.3, 1.1], "loss_g": [0.9, 1.0]}
    path.write_text(json.dumps(d))
    (path.parent / "grids" / "epoch_002.png").write_bytes(b"not a png")
    loaded = load_results(tmp_path)
    rel = f"reproduce/{MLP}__torch/reproduction.json"
    assert loaded.warnings == [
        f"{rel}: 1 of 3 entries of 'metrics' malformed; left out",
        f"{rel}: key 'published' must hold 'from_epoch', 'loss_d' [lo, hi], 'loss_g' [lo, hi] and optionally "
        "'first_step' {loss_d, loss_g}; no published comparison shown",
        f"{rel}: last progress grid 'grids/epoch_002.png' not a readable image (UnidentifiedImageError: cannot "
        f"identify image file {str((path.parent / 'grids' / 'epoch_002.png').resolve())!r}); "
        "showing 'grids/epoch_001.png' instead",
    ]
    rep = loaded.reproductions[0]
    assert [m["epoch"] for m in rep["metrics"]] == [0, 2] and rep["published"] is None
    assert reproduction.item(rep)["grid_epoch"] == 1


def test_a_runs_losses_png_is_the_reports_loss_chart_of_that_run(tmp_path):
    """`reproduce` writes losses.png from its raw record with the chart the report draws."""
    from PIL import Image

    record = json.loads(write_reproduction(tmp_path, MLP, "torch", epochs_done=2, iterations_per_epoch=IPE).read_text())
    assert charts.save_reproduction_loss_chart(record, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as png:
        assert png.format == "PNG" and png.size == (11 * charts.DPI, round(4.2 * charts.DPI))
    empty = {**record, "losses": {"d": [], "g": [], "epoch": []}, "epoch_losses": []}
    assert not charts.save_reproduction_loss_chart(empty, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_a_folder_of_reproductions_alone_builds_and_exits_0(tmp_path, capsys):
    write_reproduction(
        tmp_path,
        MLP,
        "torch",
        epochs_done=2,
        iterations_per_epoch=IPE,
        status="collapsed",
        error={"type": "Collapsed", "message": "the fixed-noise samples are all alike"},
    )
    assert main(["build", str(tmp_path)]) == 0
    assert "1 reproduction(s) shown" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text()
    # each section stands on its own: no "No valid result", and the machine it ran on is listed
    assert "No valid result" not in page and "This folder holds reproductions only" in page
    assert "No run or reproduction recorded an environment" not in page and "<h3>Machine " in page
    assert "<pre>Collapsed: the fixed-noise samples are all alike</pre>" in page
    # A collapsed run's last epoch ended (grid, metrics) but is not counted as done.
    assert "last progress grid: epoch 2" in page


def test_reproductions_in_the_browser(built, tmp_path):
    """All images decode in Chromium (the GIFs too) and the markup runs nothing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(offline=True).new_page()
        page.goto(built[1].html.as_uri(), wait_until="load")
        widths = page.evaluate(
            "Promise.all([...document.querySelectorAll('#reproductions img')].map("
            "i => i.decode().then(() => i.naturalWidth, () => 0)))"
        )
        state = page.evaluate(
            "({pwned: window.__pwned, scripts: document.scripts.length,"
            " text: document.querySelector('#reproductions').innerText})"
        )
        browser.close()
    assert len(widths) == 4 + 5 + 4 and all(w > 0 for w in widths), widths
    assert state["pwned"] is None and state["scripts"] == 0
    assert "RuntimeError: " + EVIL in state["text"]
