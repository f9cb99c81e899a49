// SPDX-License-Identifier: GPL-3.0-or-later
//
// tokenize-bench.mjs: tokenizing speed of `smelt tokenize` next to llama.cpp (node-llama-cpp) on
// a generated ~1 MB multilingual text, for every fixture vocabulary. Also checks that both give
// the same ids. A script, not a test: run it by hand after `ninja -C build` and a parity run
// (which installs node-llama-cpp into tests/parity/node_modules):
//
//   SMELT_SHARED_DIR=../shared node benchmarks/tokenize-bench.mjs [build-dir]
//
// Smelt's time is the whole command (start, vocabulary load, tokenize, print) minus the same
// command on an empty file; llama.cpp's is the model.tokenize() call alone.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const build = resolve(process.argv[2] ?? join(root, "build"));
const shared = resolve(process.env.SMELT_SHARED_DIR ?? join(root, "..", "shared"));
const smelt = join(build, "src", "app", "smelt");
const vocabDir = join(shared, "fixtures", "vocab");
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(join(root, "tests", "parity", "node_modules", "node-llama-cpp", "dist", "index.js")).href);

// Deterministic text: 40000 picks from a few kinds of content.
const parts = ["The quick brown fox jumps over the lazy dog. ", "你好，世界！今天天气很好。",
               "def f(x):\n    return x * 2\n", "🦙🔥 emoji ", "1234567 numbers 3.14159 ",
               "  whitespace   runs\n\n\t", "Ελληνικά русский العربية ", "I'm sure it's THEY'RE "];
let seed = 1, text = "";
for (let i = 0; i < 40000; i++) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  text += parts[seed % parts.length];
}
const work = mkdtempSync(join(tmpdir(), "smelt-tok-bench-"));
const big = join(work, "big.txt"), empty = join(work, "empty.txt");
writeFileSync(big, text, "utf8");
writeFileSync(empty, "", "utf8");

function timeSmelt(model, file) {
  const t0 = performance.now();
  const r = spawnSync(smelt, ["tokenize", model, "--file", file], { encoding: "utf8", maxBuffer: 1 << 28 });
  const t1 = performance.now();
  if (r.status !== 0)
    throw new Error(r.stderr);
  return { s: (t1 - t0) / 1000, ids: r.stdout.trim() };
}

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 2,
                               logLevel: LlamaLogLevel.disabled });
console.log(`text: ${Buffer.byteLength(text)} bytes`);
console.log("vocab                      tokens   llama.cpp s   smelt s (load s)   same ids");
for (const v of readdirSync(vocabDir).filter((f) => f.endsWith(".gguf")).sort()) {
  const path = join(vocabDir, v);
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0, vocabOnly: true });
  const t0 = performance.now();
  const want = Array.from(model.tokenize(text, false));
  const ref = (performance.now() - t0) / 1000;
  await model.dispose();
  const base = timeSmelt(path, empty);
  const got = timeSmelt(path, big);
  const same = got.ids === want.join(" ");
  console.log(`${v.padEnd(27)}${String(want.length).padStart(7)}   ${ref.toFixed(3).padStart(11)}` +
              `   ${(got.s - base.s).toFixed(3).padStart(7)} (${base.s.toFixed(3)})   ${same ? "yes" : "NO"}`);
}
rmSync(work, { recursive: true, force: true });
await llama.dispose();
