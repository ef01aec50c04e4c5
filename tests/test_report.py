"""The HTML report of the tiny study (`snakemake --report report.html`) opened in a real
headless Chromium: the report's own app shows Table II and every figure, each image decoded
at the size of its PNG file.

A small script appended to a copy of the report walks the report's result list as a reader
clicks through it (each result's info panel, then each figure in the content view), and writes
what the browser shows into the DOM, which `chromium --dump-dom` prints. Virtual time runs the
script to its end (its waits for image decoding are timers); the budget is only a bound."""

import html
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

PROBE = r"""
(async () => {
  const out = {results: {}, errors: [], navigation: ""};
  const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
  const text = (markup) => {
    const div = document.createElement("div");
    div.innerHTML = markup;
    return div.textContent.replace(/\s+/g, " ").trim();
  };
  try {
    await tick();
    out.navigation = document.querySelector("nav").innerText;
    for (const [category, subcategories] of Object.entries(categories)) {
      for (const [subcategory, paths] of Object.entries(subcategories)) {
        for (const path of paths) {
          const entry = results[path];
          app.showResultInfo(path);
          await tick();
          const info = document.querySelector("nav").innerText.replace(/\s+/g, " ");
          const record = {category, subcategory, mime: entry.mime_type};
          record.caption_shown = entry.caption !== null && info.includes(text(entry.caption));
          if (entry.mime_type.startsWith("image/")) {
            app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
            await tick();
            const img = [...document.querySelectorAll("img")].find((i) => i.src === entry.data_uri);
            let state = img ? "pending" : "missing";
            if (img) img.decode().then(() => { state = "decoded"; }, () => { state = "failed"; });
            for (let n = 0; state === "pending" && n < 100000; n++) await tick();
            record.decoded = state === "decoded";
            record.size = img ? [img.naturalWidth, img.naturalHeight] : null;
          } else {
            const link = [...document.querySelectorAll("a[download]")].find(
              (a) => a.getAttribute("download") === entry.name);
            record.download = link ? atob(link.getAttribute("href").split("base64,")[1]) : null;
          }
          out.results[path] = record;
        }
      }
    }
  } catch (err) {
    out.errors.push(String(err));
  }
  const pre = document.createElement("pre");
  pre.id = "report-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def browser() -> str:
    """The Chromium executable; skips the test where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (`make test` installs it with apt-get as root)")
    return found


def png_size(path: Path) -> list[int]:
    """[width, height] from a PNG file's IHDR chunk (bytes 16-24, big-endian)."""
    return list(struct.unpack(">II", path.read_bytes()[16:24]))


def shown(study: Path, report: Path) -> dict:
    """What Chromium shows of ``report`` (built in ``study``): the probe's record."""
    page = report.with_name("probed.html")
    markup = report.read_text()
    end = markup.rindex("</body>")
    page.write_text(f"{markup[:end]}<script>{PROBE}</script>{markup[end:]}")
    result = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"]
        + ["--virtual-time-budget=100000000", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="report-check">(.*?)</pre>', result.stdout, re.S)
    assert found, "the probe did not finish: " + result.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def test_the_report_shows_table_2_and_every_figure(test_study, tmp_path):
    browser()
    report = tmp_path / "report.html"
    built = subprocess.run(
        [str(BIN / "snakemake"), "--report", str(report), "--configfile", "config/test.yaml"],
        cwd=test_study,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    page = shown(test_study, report)
    assert page["errors"] == []
    for category in ("All problems", "pma", "sfa", "cac", "liver"):
        assert category in page["navigation"].splitlines()
    results = page["results"]
    figures = {
        str(p.relative_to(test_study)): p for p in (test_study / "results/figures").rglob("*.png")
    }
    images = {path for path, r in results.items() if r["mime"] == "image/png"}
    assert images == set(figures)
    for path, png in figures.items():
        assert results[path]["decoded"] and results[path]["size"] == png_size(png), path
        assert results[path]["caption_shown"], path
    table2 = results["results/tables/table2.tsv"]
    assert table2["category"] == "All problems" and table2["caption_shown"]
    assert table2["download"] == (test_study / "results/tables/table2.tsv").read_text()
    for table in (test_study / "results/tables").glob("*.tsv"):
        assert results[f"results/tables/{table.name}"]["download"] == table.read_text()
