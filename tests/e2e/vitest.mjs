// Runs the UI unit tests (Vitest) and closes with a line in cargo's format, so that
// scripts/test.sh counts them with the others.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { outDir, repo } from "./harness.mjs";

const report = path.join(outDir, "vitest.json");
const result = spawnSync(
  "npx",
  ["--no-install", "vitest", "run", "--config", "ui/vite.config.ts", "--reporter=default", "--reporter=json", `--outputFile=${report}`],
  {
    cwd: repo,
    stdio: "inherit",
  },
);
const json = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, "utf8")) : { numPassedTests: 0, numFailedTests: 1 };
const failed = json.numFailedTests + (result.status === 0 ? 0 : json.numFailedTests ? 0 : 1);
console.log(`\ntest result: ${failed ? "FAILED" : "ok"}. ${json.numPassedTests} passed; ${failed} failed`);
process.exit(failed ? 1 : 0);
