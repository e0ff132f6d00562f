// A small test harness for the end-to-end scripts: named tests run in order, a failure is
// reported with its error and the run goes on; the closing line has cargo's format, so that
// scripts/test.sh counts these tests with the others.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

export const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
export const outDir = path.join(repo, "tests/e2e/out");
fs.mkdirSync(outDir, { recursive: true });

const tests = [];
export function test(name, fn) {
  tests.push({ name, fn });
}

export async function run(cleanup = async () => {}) {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of tests) {
    try {
      await fn();
      console.log(`test ${name} ... ok`);
      passed++;
    } catch (error) {
      console.log(`test ${name} ... FAILED\n${error?.stack ?? error}`);
      failed++;
    }
  }
  await cleanup();
  console.log(`\ntest result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export async function eventually(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

// ---- test photos: solid colours with a little noise, as PNG and BMP (no image library) ----

function crcTable() {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const CRC = crcTable();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pixels(width, height, rgb, seed) {
  let s = seed;
  const noise = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return (s % 31) - 15;
  };
  const clamp = (v) => Math.max(0, Math.min(255, v));
  const out = [];
  for (let y = 0; y < height; y++) {
    const row = [];
    for (let x = 0; x < width; x++) row.push(rgb.map((v) => clamp(v + noise())));
    out.push(row);
  }
  return out;
}

export function writePng(file, rgb, seed = 1, width = 96, height = 72) {
  const rows = pixels(width, height, rgb, seed);
  const raw = Buffer.concat(rows.map((row) => Buffer.from([0, ...row.flat()])));
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]),
  );
}

export function writeBmp(file, rgb, seed = 1, width = 96, height = 72) {
  const rows = pixels(width, height, rgb, seed);
  const stride = Math.ceil((width * 3) / 4) * 4;
  const buf = Buffer.alloc(54 + stride * height);
  buf.write("BM", 0);
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(stride * height, 34);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rows[height - 1 - y][x];
      buf.set([b, g, r], 54 + y * stride + x * 3);
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
}

export const COLOURS = { red: [220, 30, 30], green: [30, 190, 40], blue: [30, 60, 220], yellow: [235, 215, 40] };

/** A folder of colour photos: three PNGs and one BMP per colour. */
export function colourPhotos(dir) {
  let seed = 1;
  for (const [name, rgb] of Object.entries(COLOURS)) {
    for (let i = 0; i < 3; i++) writePng(path.join(dir, i < 2 ? "trip" : "home", `${name}${i}.png`), rgb, seed++);
    writeBmp(path.join(dir, "scans", `${name}-scan.bmp`), rgb, seed++);
  }
  return dir;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const binary = process.env.PHOTO_SEARCH_BIN ?? path.join(repo, "target/debug/photo-search");

/** Runs photo-search to completion; throws with its output when it fails. */
export function photoSearch(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd: repo });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => (code === 0 ? resolve(output) : reject(new Error(`photo-search ${args.join(" ")} exited ${code}:\n${output}`))));
  });
}

/** Starts `photo-search serve` on a free port and resolves with its URL and process. */
export function serve(args, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [...args, "serve", "--bind", "127.0.0.1:0"], { cwd: repo, env });
    let output = "";
    const onData = (d) => {
      output += d;
      const match = /Photo Search is at (\S+)/.exec(output);
      if (match) resolve({ url: match[1], child });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => reject(new Error(`serve exited ${code}:\n${output}`)));
  });
}
