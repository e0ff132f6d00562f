// The UI in Debian's Chromium (Playwright) against `photo-search serve` on a test library built
// with models/test-color: type, upload, filter, preview with the keyboard; screenshots saved in
// tests/e2e/out/.

import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { assert, COLOURS, colourPhotos, eventually, outDir, photoSearch, repo, run, serve, tempDir, test, writePng } from "./harness.mjs";

const work = tempDir("photo-search-e2e-");
const photos = colourPhotos(path.join(work, "photos"));
const library = path.join(work, "library");
const model = ["--library", library, "--model", "models/test-color"];
await photoSearch([...model, "index", photos]);
const server = await serve(model);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(server.url);

/** File names of the result cells, in grid order. */
const results = () => page.$$eval("#grid-inner .cell", (cells) => cells.sort((a, b) => a.dataset.index - b.dataset.index).map((c) => c.title.split("/").pop()));

test("the search box has focus at start", async () => {
  await page.waitForSelector("#search");
  assert(await page.evaluate(() => document.activeElement?.id === "search"), "focus is on the search box");
});

test("typing red shows red thumbnails first", async () => {
  await page.type("#search", "red");
  const names = await eventually("red results", async () => {
    const r = await results();
    return r.length >= 4 && r.slice(0, 4).every((n) => n.startsWith("red")) ? r : null;
  });
  assert(names.length === 16, `all 16 photos ranked, got ${names.length}`);
  await eventually("thumbnails loaded", () => page.$$eval("#grid-inner .cell img", (imgs) => imgs.slice(0, 4).every((i) => i.complete && i.naturalWidth > 0)));
  await page.screenshot({ path: path.join(outDir, "browser-search-red.png") });
});

test("a filter narrows the results", async () => {
  await page.selectOption("#filter-format", "bmp");
  const names = await eventually("only scans", async () => {
    const r = await results();
    return r.length === 4 && r.every((n) => n.endsWith(".bmp")) ? r : null;
  });
  assert(names[0] === "red-scan.bmp", `red scan first, got ${names[0]}`);
  await page.selectOption("#filter-format", "");
  await eventually("all back", async () => (await results()).length === 16);
});

test("uploading a blue photo shows blue photos", async () => {
  const query = path.join(work, "query-blue.png");
  writePng(query, COLOURS.blue, 99);
  await page.setInputFiles("#image-input", query);
  await eventually("blue results", async () => {
    const r = await results();
    return r.length && r.slice(0, 4).every((n) => n.startsWith("blue"));
  });
  const chip = await page.textContent("#chips .chip-label");
  assert(chip === "query-blue.png", `an image chip, got ${chip}`);
  await page.screenshot({ path: path.join(outDir, "browser-similar-blue.png") });
});

test("negative chips move away from a term", async () => {
  await page.click("#chips button[aria-label^='Remove']");
  await page.fill("#search", "green, not: red");
  await page.press("#search", "Enter");
  await eventually("green first, red last", async () => {
    const r = await results();
    return r.length === 16 && r[0].startsWith("green") && r.slice(-4).every((n) => n.startsWith("red"));
  });
});

test("typed terms become chips in the core's grammar; a half-typed one is explained", async () => {
  await page.fill("#search", '"green" + 2*blue - red');
  await page.press("#search", "Tab");
  const labels = await eventually("three chips", async () => {
    const l = await page.$$eval("#chips .chip-label", (ls) => ls.map((x) => x.textContent));
    return l.length === 3 ? l : null;
  });
  assert(JSON.stringify(labels) === JSON.stringify(["green", "2× blue", "not: red"]), `chips ${labels}`);
  await eventually("blue first", async () => (await results())[0]?.startsWith("blue"));
  await page.type("#search", "blue -");
  await eventually("the dangling minus explained", async () => (await page.textContent("#result-count")).includes("must be followed by a term"));
  assert((await results())[0]?.startsWith("blue"), "the results stay while the query is half-typed");
  await page.fill("#search", "");
  await page.press("#search", "Escape");
  await eventually("no chips", async () => (await page.$$("#chips .chip")).length === 0);
});

test("the preview opens and closes with the keyboard", async () => {
  await page.fill("#search", "yellow");
  await page.press("#search", "Enter");
  await eventually("yellow first", async () => (await results())[0]?.startsWith("yellow"));
  await page.press("#search", "ArrowDown");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#preview[open]");
  const first = await page.textContent("#preview-title");
  assert(first.startsWith("yellow"), `preview of the first result, got ${first}`);
  await eventually("facts", async () => (await page.textContent("#preview-facts")).includes("Path"));
  await page.screenshot({ path: path.join(outDir, "browser-preview.png") });
  await page.keyboard.press("ArrowRight");
  await eventually("next photo", async () => (await page.textContent("#preview-title")) !== first);
  await page.keyboard.press("Escape");
  await eventually("closed", async () => !(await page.$("#preview[open]")));
});

test("indexing pauses and resumes from the status bar", async () => {
  await page.click("#pause");
  await eventually(
    "paused",
    async () => (await page.textContent("#pause")) === "Resume indexing" && (await page.textContent("#status-text")).includes("paused"),
  );
  await page.screenshot({ path: path.join(outDir, "browser-paused.png") });
  await page.click("#pause");
  await eventually(
    "resumed",
    async () => (await page.textContent("#pause")) === "Pause indexing" && (await page.textContent("#status-text")).includes("watching"),
  );
});

test("settings say what the model is and its licence", async () => {
  await page.click("#open-settings");
  const about = await eventually("model description", async () => {
    const t = await page.textContent("#settings-model-about");
    return t?.includes("Embeds average colour only") ? t : null;
  });
  assert(!about.includes("Licence"), `the test model states no licence: ${about}`);
  const models = await page.$$eval("#settings-models li", (items) => items.map((li) => li.textContent));
  assert(
    models.some((m) => m.includes("CLIP ViT-B/32") && m.includes("Licence: MIT")),
    `models listed: ${models}`,
  );
  assert(
    models.some((m) => m.includes("SigLIP") && m.includes("Apache-2.0")),
    `models listed: ${models}`,
  );
  assert(
    models.some((m) => m.includes("Test colour model") && m.includes("In use")),
    `models listed: ${models}`,
  );
  assert((await page.$$("#settings-models button[aria-label^='Use ']")).length === 2, "the built-in models can be chosen");
  await page.selectOption("#query-encoder", "multilingual");
  await eventually("query language saved", async () => (await page.textContent("#query-encoder-about")).includes("German"));
  await page.screenshot({ path: path.join(outDir, "browser-settings.png") });
  await page.keyboard.press("Escape");
  await eventually("settings closed", async () => !(await page.$("#settings[open]")));
});

test("a query in German finds the red photos through the multilingual query encoder", async () => {
  await page.fill("#search", "rote");
  await eventually("red results for 'rote'", async () => {
    const r = await results();
    return r.length >= 4 && r.slice(0, 4).every((n) => n.startsWith("red")) ? r : null;
  });
  await page.click("#open-settings");
  await page.selectOption("#query-encoder", "");
  await eventually("query language back to the model's own", async () => (await page.textContent("#query-encoder-about")) === "");
  await page.keyboard.press("Escape");
  await page.fill("#search", "");
});

test("choosing a model that cannot be downloaded keeps searching with the current one", async () => {
  // No network here: the switch to CLIP stops at its download, and the status bar says so.
  await page.click("#open-settings");
  await page.click("#settings-models button[aria-label='Use CLIP ViT-B/32']");
  const text = await eventually(
    "switch reported",
    async () => {
      const t = await page.textContent("#status-text");
      if (!(t.includes("Switching to CLIP ViT-B/32") && t.includes("download failed")))
        throw new Error(`status bar: ${t}; settings: ${await page.textContent("#settings-error")}`);
      return t;
    },
    60000,
  );
  assert(text.includes("searching with Test colour model"), text);
  await page.keyboard.press("Escape");
  await eventually("settings closed", async () => !(await page.$("#settings[open]")));
  await page.screenshot({ path: path.join(outDir, "browser-switch-failed.png") });
  await page.fill("#search", "red");
  await eventually("red results while switching", async () => {
    const r = await results();
    return r.length >= 4 && r.slice(0, 4).every((n) => n.startsWith("red")) ? r : null;
  });
  await page.click("#open-settings");
  await page.click("#settings-models button[aria-label='Stay with Test colour model (not for real photos)']");
  await eventually("switch abandoned", async () => !(await page.textContent("#status-text")).includes("Switching"));
  await page.keyboard.press("Escape");
  await page.fill("#search", "");
});

test("three picked results are exported to a folder", async () => {
  await page.fill("#search", "red");
  // Past the typing delay: a search that lands later would start a new result set.
  await page.waitForTimeout(800);
  await eventually("red results", async () => {
    const r = await results();
    return r.length >= 4 && r[0].startsWith("red") ? r : null;
  });
  for (const i of [0, 1, 2]) await page.click(`#grid-inner .cell[data-index="${i}"]`, { modifiers: ["Control"] });
  await eventually("three picked", async () => (await page.textContent("#selection-count")) === "3 selected");
  assert((await page.$$("#grid-inner .cell.picked")).length === 3, "three cells show as picked");
  const folder = path.join(work, "exported");
  await page.fill("#export-folder", folder);
  await page.screenshot({ path: path.join(outDir, "browser-picked.png") });
  await page.click("#export-start");
  await eventually("the export finished", async () => {
    const said = await page.textContent("#selection-message");
    if (!said.startsWith("Exported 3")) throw new Error(`message: ${said}; status: ${await page.textContent("#status-text")}`);
    return said;
  });
  await page.screenshot({ path: path.join(outDir, "browser-exported.png") });
  const files = fs.readdirSync(folder).sort();
  assert(files.length === 3 && files.every((f) => f.startsWith("red")), `exported: ${files}`);
  await page.click("#selection-clear");
  await eventually("nothing picked", async () => await page.isHidden("#selection-bar"));
  await page.fill("#search", "");
});

test("a saved search stays in the sidebar and runs again from there", async () => {
  await page.fill("#search", "blue");
  await page.waitForTimeout(800);
  await page.click("#save-search");
  await eventually("the saved search", async () => (await page.$$eval("#saved-list .saved-open", (b) => b.map((x) => x.textContent))).includes("blue"));
  await page.reload();
  await eventually("kept in the library", async () => (await page.$$eval("#saved-list .saved-open", (b) => b.map((x) => x.textContent))).includes("blue"));
  await page.click("#saved-list .saved-open");
  await eventually("its results", async () => {
    const r = await results();
    return r.length >= 4 && r.slice(0, 4).every((n) => n.startsWith("blue")) ? r : null;
  });
  await page.screenshot({ path: path.join(outDir, "browser-saved-search.png") });
  await page.click("#saved-list button[aria-label^='Forget']");
  await eventually("forgotten", async () => await page.isHidden("#saved"));
});

test("the status bar reports the library", async () => {
  const text = await eventually("status", async () => {
    const t = await page.textContent("#status-text");
    return t.includes("16 photos indexed") ? t : null;
  });
  assert(text.includes("watching"), text);
  assert(errors.length === 0, `page errors: ${errors.join("; ")}`);
});

// A library larger than one page: results arrive 200 at a time as the grid scrolls.
const many = path.join(work, "many");
for (let i = 0; i < 500; i++) writePng(path.join(many, `m${String(i).padStart(3, "0")}.png`), Object.values(COLOURS)[i % 4], 1000 + i, 24, 18);
const manyLibrary = ["--library", path.join(work, "many-library"), "--model", "models/test-color"];
await photoSearch([...manyLibrary, "index", many]);
const manyServer = await serve(manyLibrary);

test("scrolling loads the next pages of results, each photo once", async () => {
  const scrolling = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await scrolling.goto(manyServer.url);
  await scrolling.type("#search", "red");
  const first = await eventually("the first page", async () => {
    const t = await scrolling.textContent("#result-count");
    return t.startsWith("200+ photos") ? t : null;
  });
  assert(first.startsWith("200+"), first);
  const ids = new Map();
  const collect = async () => {
    await scrolling.$eval("#grid", (g) => {
      g.scrollTop = g.scrollHeight;
    });
    await scrolling.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    for (const [index, id] of await scrolling.$$eval("#grid-inner .cell", (cells) => cells.map((c) => [Number(c.dataset.index), c.dataset.id]))) {
      assert(!ids.has(index) || ids.get(index) === id, `cell ${index} changed photo`);
      ids.set(index, id);
    }
  };
  await eventually(
    "every page",
    async () => {
      await collect();
      return (await scrolling.textContent("#result-count")).startsWith("500 photos");
    },
    30000,
  );
  await collect();
  const lastIndex = Math.max(...ids.keys());
  assert(lastIndex === 499, `the last result is the 500th, got ${lastIndex}`);
  const distinct = new Set(ids.values());
  assert(distinct.size === ids.size, `no photo twice among ${ids.size} cells seen`);
  await scrolling.screenshot({ path: path.join(outDir, "browser-scrolled-to-500.png") });
  await scrolling.close();
});

// A library where most photos are not about the query (as in real ones): 4 red, 4 blue, 32 grey.
const mostlyGrey = path.join(work, "mostly-grey");
for (let i = 0; i < 4; i++) {
  writePng(path.join(mostlyGrey, `red${i}.png`), COLOURS.red, 2000 + i);
  writePng(path.join(mostlyGrey, `blue${i}.png`), COLOURS.blue, 2100 + i);
}
for (let i = 0; i < 32; i++) {
  const level = 40 + i * 6;
  writePng(path.join(mostlyGrey, `grey${String(i).padStart(2, "0")}.png`), [level + (i % 5), level, level + 4 - (i % 5)], 2200 + i);
}
// A byte copy, for the duplicates view.
fs.copyFileSync(path.join(mostlyGrey, "grey00.png"), path.join(mostlyGrey, "grey00-copy.png"));
const greyLibrary = ["--library", path.join(work, "grey-library"), "--model", "models/test-color"];
await photoSearch([...greyLibrary, "index", mostlyGrey]);
const greyServer = await serve(greyLibrary);

test("strong matches come first and weaker ones wait behind 'show more'", async () => {
  const relevance = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await relevance.goto(greyServer.url);
  await relevance.type("#search", "red");
  const bar = await eventually("the relevance bar", async () => {
    const t = await relevance.textContent("#relevance");
    return t.includes("4 strong matches") ? t : null;
  });
  assert(bar.includes("Show more"), bar);
  const shown = () => relevance.$$eval("#grid-inner .cell", (cells) => cells.map((c) => c.title.split("/").pop()));
  const strong = await shown();
  assert(strong.length === 4 && strong.every((n) => n.startsWith("red")), `only the red photos: ${strong}`);
  await relevance.screenshot({ path: path.join(outDir, "browser-strong-matches.png") });
  await relevance.click("#relevance-toggle");
  // The grid renders the cells in view only: more than the four, the next ones grey.
  const all = await eventually("the weaker matches", async () => ((await shown()).length > 4 ? shown() : null));
  assert(all.slice(0, 4).every((n) => n.startsWith("red")) && all.slice(4).every((n) => !n.startsWith("red")), `${all}`);
  assert((await relevance.textContent("#relevance")).includes("weaker ones follow"), "the bar says where strong matches end");
  await relevance.fill("#search", "dog");
  await eventually("no close matches", async () => (await relevance.textContent("#relevance")).includes("No close matches"));
  await relevance.screenshot({ path: path.join(outDir, "browser-no-close-matches.png") });
  // A date in the words becomes a filter, shown as a chip that takes it back.
  await relevance.fill("#search", "red in 2019");
  await eventually("the date understood", async () => (await relevance.textContent("#relevance")).includes("Taken: 2019"));
  await eventually("no photo of 2019", async () => (await relevance.$$("#grid-inner .cell")).length === 0);
  await relevance.screenshot({ path: path.join(outDir, "browser-understood-date.png") });
  await relevance.click(".understood-remove");
  await eventually(
    "the words taken as they are",
    async () => (await relevance.$$("#grid-inner .cell")).length > 0 && !(await relevance.textContent("#relevance")).includes("Taken:"),
  );
  await relevance.close();
});

test("'Group similar shots' folds the four reds into one result with a count that unfolds", async () => {
  const folding = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await folding.goto(greyServer.url);
  await folding.check("#collapse");
  await folding.type("#search", "red");
  const cells = () =>
    folding.$$eval("#grid-inner .cell", (cells) =>
      cells
        .sort((a, b) => a.dataset.index - b.dataset.index)
        .map((c) => ({ name: c.title.split("\n")[0].split("/").pop(), badge: c.querySelector(".stack-count")?.textContent ?? "" })),
    );
  const folded = await eventually("one red tile with +3", async () => {
    const c = await cells();
    return c.length && c[0].name.startsWith("red") && c[0].badge === "+3" ? c : null;
  });
  assert(folded.filter((c) => c.name.startsWith("red")).length === 1, `one red tile: ${JSON.stringify(folded)}`);
  assert((await folding.textContent("#relevance")).includes("1 strong match"), await folding.textContent("#relevance"));
  await folding.screenshot({ path: path.join(outDir, "browser-similar-folded.png") });
  await folding.click("#grid-inner .cell .stack-count");
  const unfolded = await eventually("the four reds shown", async () => {
    const c = await cells();
    return c.filter((x) => x.name.startsWith("red")).length === 4 ? c : null;
  });
  assert(
    unfolded.slice(0, 4).every((c) => c.name.startsWith("red") && !c.badge),
    JSON.stringify(unfolded),
  );
  assert((await folding.textContent("#relevance")).includes("4 strong matches"), "the unfolded shots count as strong matches");
  await folding.uncheck("#collapse");
  await folding.close();
});

test("the duplicates view lists the byte copy apart from similar shots", async () => {
  const dups = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await dups.goto(greyServer.url);
  await dups.click("#open-duplicates");
  await eventually("exact copies", async () => (await dups.textContent("#duplicates-summary")).startsWith("1 group of exact copies"));
  const paths = await dups.textContent("#duplicates-list .group-paths");
  assert(paths.includes("grey00.png") && paths.includes("grey00-copy.png"), paths);
  await dups.screenshot({ path: path.join(outDir, "browser-duplicates.png") });
  await dups.selectOption("#duplicates-kind", "near-identical");
  await eventually("similar shots", async () => /similar shots/.test(await dups.textContent("#duplicates-summary")));
  await dups.close();
});

// Real camera photos (../shared/photos/camera) with their GPS positions, on the colour model.
const cameraLibrary = ["--library", path.join(work, "camera-library"), "--model", "models/test-color"];
await photoSearch([...cameraLibrary, "index", path.join(repo, "../shared/photos/camera")]);
const cameraServer = await serve(cameraLibrary);

test("places from GPS filter the results, picked or typed", async () => {
  const places = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await places.goto(cameraServer.url);
  const options = await eventually("the place filter", async () => {
    const o = await places.$$eval("#filter-place option", (os) => os.map((x) => x.textContent));
    return o.some((t) => t.startsWith("Spain")) ? o : null;
  });
  assert(options.includes("United Kingdom (2)") && options.includes("England (2)") && options.includes("France (1)"), `${options}`);
  await places.type("#search", "orange");
  await eventually("every photo", async () => (await places.textContent("#result-count")).startsWith("32 photos"));
  await places.screenshot({ path: path.join(outDir, "browser-real-photos.png") });
  await places.selectOption("#filter-place", "United Kingdom");
  await eventually("the UK photos", async () => (await places.textContent("#result-count")).startsWith("2 photos"));
  await places.selectOption("#filter-place", "");
  await places.fill("#search", "orange in madrid");
  await eventually(
    "Madrid understood",
    async () => (await places.textContent("#relevance")).includes("Place: Madrid") && (await places.textContent("#result-count")).startsWith("1 photos"),
  );
  await places.screenshot({ path: path.join(outDir, "browser-place-understood.png") });
  await places.close();
});

test("a focused button keeps the focus while the status changes around it", async () => {
  const emptyServer = await serve(["--library", path.join(work, "empty-library"), "--model", "models/test-color"]);
  const empty = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  try {
    await empty.goto(emptyServer.url);
    await empty.waitForSelector("#first-folder");
    await empty.focus("#first-folder");
    // Pausing changes the status (a tick renders the empty state again) without the button.
    const token = new URL(emptyServer.url).searchParams.get("token");
    for (const step of ["pause", "resume", "pause"]) {
      await empty.evaluate(
        ([step, token]) => fetch(`/api/indexing/${step}`, { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} }),
        [step, token],
      );
      const paused = step === "pause";
      await eventually(`status after ${step}`, async () => ((await empty.textContent("#status-announce")) === "Indexing paused") === paused);
    }
    const focused = await empty.evaluate(() => document.activeElement?.id);
    assert(focused === "first-folder", `the button kept the focus, got ${focused}`);
  } finally {
    await empty.close();
    emptyServer.child.kill("SIGINT");
  }
});

test("a machine with an NVIDIA GPU is offered the GPU runtime", async () => {
  // A stand-in nvidia-smi answers as an RTX 4070's driver does; the runtime stays the CPU one.
  const bin = path.join(work, "fake-driver");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA GeForce RTX 4070, 12282, 581.57, 8.9'\n", { mode: 0o755 });
  const gpuLibrary = ["--library", path.join(work, "gpu-library"), "--model", "models/test-color"];
  const gpuServer = await serve(gpuLibrary, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
  const gpuPage = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  try {
    await gpuPage.goto(gpuServer.url);
    const offer = await eventually("the GPU offer", () => gpuPage.textContent("#gpu-download").catch(() => null));
    assert(/^Index with your NVIDIA GeForce RTX 4070: download \d+\.\d GB$/.test(offer), `the offer names the card and the size, got ${offer}`);
    await gpuPage.screenshot({ path: path.join(outDir, "browser-gpu-offer.png") });
    await gpuPage.click("#open-settings");
    const runsOn = await eventually("the settings' GPU line", async () => {
      const text = await gpuPage.textContent("#settings-provider");
      return text?.includes("GPU:") ? text : null;
    });
    assert(runsOn.includes("GPU: NVIDIA GeForce RTX 4070, 12 GB, driver 581.57.") && runsOn.includes("May use 6.0 GB of GPU memory"), runsOn);
  } finally {
    await gpuPage.close();
    gpuServer.child.kill("SIGINT");
  }
});

await run(async () => {
  await browser.close();
  cameraServer.child.kill("SIGINT");
  server.child.kill("SIGINT");
  manyServer.child.kill("SIGINT");
  greyServer.child.kill("SIGINT");
  fs.rmSync(work, { recursive: true, force: true });
});
