// SPDX-License-Identifier: GPL-3.0-or-later
//
// gguf-parity.mjs: files written by Smelt's GGUF writer, loaded by llama.cpp (npm
// node-llama-cpp 3.22.1, prebuilt, CPU). stories260K is rewritten by tests/parity/gguf-rewrite
// (reader + writer, nothing else) as a 3-part gguf-split set and as a single file with
// general.alignment 64; llama.cpp must load each (it checks magic, key types, split.* keys,
// every tensor's offset against its own layout rule and the padding) and give bit-identical
// next-token logits to the original file. Prints TAP. Run through run-gguf-parity.sh.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const shared = process.env.SMELT_SHARED_DIR;
const build = process.env.SMELT_BUILD_DIR;
if (!shared || !build) {
  console.log("1..0 # SKIP SMELT_SHARED_DIR / SMELT_BUILD_DIR not set (run through meson test)");
  process.exit(0);
}
const rewrite = join(build, "tests", "parity", "gguf-rewrite");
const original = join(shared, "fixtures", "models", "stories260K.gguf");
const tokens = [1, 403, 261, 354, 407, 289, 18, 3, 500];

const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 2,
                               logLevel: LlamaLogLevel.disabled });
const work = mkdtempSync(join(tmpdir(), "smelt-gguf-parity-"));
const lines = [];
let n = 0, failed = 0;

function ok(pass, name, diag) {
  n++;
  if (!pass) failed++;
  lines.push(`${pass ? "ok" : "not ok"} ${n} - ${name}`);
  if (!pass && diag) lines.push(...String(diag).split("\n").map((l) => `# ${l}`));
}

async function logits(modelPath) {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 64, threads: 2, batchSize: 16 });
  try {
    const seq = ctx.getSequence();
    const want = { generateNext: { token: true, logits: true } };
    const res = await seq.controlledEvaluate(tokens.map((t, i) =>
      (i === tokens.length - 1 ? [t, want] : t)));
    return new Map(res[res.length - 1].next.logits);
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

function same(a, b) {
  if (a.size !== b.size) return `${a.size} logits vs ${b.size}`;
  for (const [t, v] of a)
    if (!Object.is(b.get(t), v)) return `token ${t}: ${v} vs ${b.get(t)}`;
  return null;
}

function run(dst, args) {
  const r = spawnSync(rewrite, [original, dst, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gguf-rewrite failed: ${r.stderr}`);
  return r.stdout.trim().split("\n");
}

try {
  const ref = await logits(original);
  ok(ref.size === 512, "llama.cpp loads the original stories260K", `${ref.size} logits`);

  const parts = run(join(work, "stories-split.gguf"), ["--split-tensors", "20"]);
  ok(parts.length === 3 && parts[0].endsWith("stories-split-00001-of-00003.gguf"),
     "the writer made 3 gguf-split parts", parts.join(", "));
  let diff;
  try {
    diff = same(await logits(parts[0]), ref);
  } catch (e) {
    diff = `llama.cpp could not load it: ${e.message}`;
  }
  ok(diff === null, "llama.cpp loads the 3-part split written by Smelt: identical logits", diff);

  // Negative control: without part 3, llama.cpp must refuse, so the check above used all parts.
  unlinkSync(parts[2]);
  let refused = false;
  try {
    await logits(parts[0]);
  } catch {
    refused = true;
  }
  ok(refused, "llama.cpp refuses the split set once part 3 is gone");

  const single = run(join(work, "stories-a64.gguf"), ["--alignment", "64"]);
  try {
    diff = same(await logits(single[0]), ref);
  } catch (e) {
    diff = `llama.cpp could not load it: ${e.message}`;
  }
  ok(diff === null, "llama.cpp loads a single file with general.alignment 64: identical logits",
     diff);
} catch (e) {
  ok(false, "gguf parity", e.stack);
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(`1..${n}`);
for (const l of lines) console.log(l);
process.exit(failed ? 1 : 0);
