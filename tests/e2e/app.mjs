// The real desktop window: the built Tauri app under Xvfb, driven through tauri-driver and
// WebKitWebDriver (the W3C WebDriver protocol, spoken here with fetch). Search, a dropped file
// (through the drop handler's own entry point), the preview, a screenshot, and the webview's
// file access (thumbnails and added folders only).

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { assert, COLOURS, colourPhotos, eventually, outDir, photoSearch, repo, run, tempDir, test, writePng } from "./harness.mjs";

const appBinary = process.env.PHOTO_SEARCH_APP ?? path.join(repo, "target/debug/photo-search-app");
const driverBinary = process.env.TAURI_DRIVER ?? path.join(repo, ".cache/tools/bin/tauri-driver");
for (const [what, file] of [
  ["the app", appBinary],
  ["tauri-driver", driverBinary],
]) {
  if (!fs.existsSync(file)) throw new Error(`${what} is missing: ${file} (scripts/test.sh builds it)`);
}

const work = tempDir("photo-search-app-");
const photos = colourPhotos(path.join(work, "photos"));
const library = path.join(work, "library");
const model = ["--library", library, "--model", "models/test-color"];
await photoSearch([...model, "index", photos]);

const children = [];
const env = { ...process.env, PHOTO_SEARCH_LIBRARY: library, PHOTO_SEARCH_MODEL: path.join(repo, "models/test-color") };
if (!process.env.DISPLAY) {
  const display = ":97";
  children.push(spawn("Xvfb", [display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"], { stdio: "ignore" }));
  env.DISPLAY = display;
  await new Promise((r) => setTimeout(r, 800));
}
const port = 4444 + Math.floor(Math.random() * 400);
const driver = spawn(driverBinary, ["--port", String(port), "--native-port", String(port + 1)], { env, stdio: ["ignore", "inherit", "inherit"] });
children.push(driver);
const base = `http://127.0.0.1:${port}`;

async function wd(method, route, body) {
  const response = await fetch(base + route, { method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const json = await response.json();
  if (!response.ok || json.value?.error) throw new Error(`${method} ${route}: ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

const session = await eventually(
  "a WebDriver session",
  () => wd("POST", "/session", { capabilities: { alwaysMatch: { "tauri:options": { application: appBinary } } } }).then((v) => v.sessionId),
  30000,
);
const s = `/session/${session}`;
const exec = (script, ...args) => wd("POST", `${s}/execute/sync`, { script, args });
const execAsync = (script, ...args) => wd("POST", `${s}/execute/async`, { script, args });
const find = async (css) => Object.values(await wd("POST", `${s}/element`, { using: "css selector", value: css }))[0];
const screenshot = async (name) => fs.writeFileSync(path.join(outDir, name), Buffer.from(await wd("GET", `${s}/screenshot`), "base64"));
const results = () =>
  exec("return [...document.querySelectorAll('#grid-inner .cell')].sort((a, b) => a.dataset.index - b.dataset.index).map((c) => c.title.split('/').pop())");

test("the window opens with the library and focus in the search box", async () => {
  await eventually(
    "the status bar",
    async () => (await exec("return document.getElementById('status-text').textContent")).includes("16 photos indexed"),
    30000,
  );
  assert(await exec("return document.activeElement && document.activeElement.id === 'search'"), "search box focused");
});

test("typing a query shows matching thumbnails first", async () => {
  await wd("POST", `${s}/element/${await find("#search")}/value`, { text: "red" });
  await eventually("red results", async () => {
    const r = await results();
    return r.length === 16 && r.slice(0, 4).every((n) => n.startsWith("red"));
  });
  await eventually("thumbnails through the asset protocol", () =>
    exec("return [...document.querySelectorAll('#grid-inner .cell img')].slice(0, 4).every((i) => i.complete && i.naturalWidth > 0)"),
  );
  // Loaded is not yet painted (thumbnails decode asynchronously): give WebKit a moment.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await screenshot("app-search-red.png");
});

test("a dropped image file finds similar photos", async () => {
  const dropped = path.join(work, "dropped-blue.png");
  writePng(dropped, COLOURS.blue, 77);
  await execAsync(
    "const done = arguments[arguments.length - 1]; window.photoSearch.dropPaths([arguments[0]]).then(() => done(true), (e) => done(String(e)))",
    dropped,
  );
  await eventually("blue results", async () => {
    const r = await results();
    return r.length && r.slice(0, 4).every((n) => n.startsWith("blue"));
  });
  const chip = await exec("return document.querySelector('#chips .chip-label').textContent");
  assert(chip === "dropped-blue.png", `image chip, got ${chip}`);
  await screenshot("app-dropped-blue.png");
});

test("the preview opens with Enter and closes with Escape", async () => {
  const grid = await find("#grid");
  await exec("document.getElementById('grid').focus()");
  await wd("POST", `${s}/element/${grid}/value`, { text: "\uE007" });
  await eventually("preview open", () => exec("return document.getElementById('preview').open"));
  await eventually("facts", async () => (await exec("return document.getElementById('preview-facts').textContent")).includes("Path"));
  await screenshot("app-preview.png");
  await wd("POST", `${s}/actions`, {
    actions: [
      {
        type: "key",
        id: "k",
        actions: [
          { type: "keyDown", value: "\uE00C" },
          { type: "keyUp", value: "\uE00C" },
        ],
      },
    ],
  });
  await eventually("preview closed", async () => !(await exec("return document.getElementById('preview').open")));
});

test("the webview reads thumbnails and added folders, no other file", async () => {
  // The same picture inside an added folder, beside it, and inside the library (outside the
  // thumbnail folder): only the first may load through the asset protocol.
  const probe = (file) =>
    execAsync(
      "const done = arguments[arguments.length - 1]; const img = new Image(); img.onload = () => done('loaded'); img.onerror = () => done('refused'); img.src = 'asset://localhost/' + encodeURIComponent(arguments[0]);",
      file,
    );
  const inside = path.join(photos, "trip", "red0.png");
  const beside = path.join(work, "outside.png");
  const inLibrary = path.join(library, "secret.png");
  fs.copyFileSync(inside, beside);
  fs.copyFileSync(inside, inLibrary);
  assert((await probe(inside)) === "loaded", "a photo of an added folder loads");
  assert((await probe(beside)) === "refused", "a picture outside the added folders is refused");
  assert((await probe(inLibrary)) === "refused", "a picture in the library outside the thumbnails is refused");
  const blocked = await execAsync(
    "const done = arguments[arguments.length - 1]; fetch('asset://localhost/' + encodeURIComponent('/etc/passwd')).then((r) => r.text()).then((t) => done(t.slice(0, 20)), () => done('blocked'));",
  );
  assert(!String(blocked).includes("root:"), "/etc/passwd is not readable");
});

await run(async () => {
  await wd("DELETE", s).catch(() => undefined);
  for (const child of children.reverse()) child.kill();
  fs.rmSync(work, { recursive: true, force: true });
});
