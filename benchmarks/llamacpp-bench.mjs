// SPDX-License-Identifier: GPL-3.0-or-later
//
// llamacpp-bench.mjs MODEL THREADS N_PROMPT N_GEN REPS: llama.cpp's speed on MODEL through npm's
// node-llama-cpp (the reference of bench-vs-llamacpp.sh when no llama-bench binary is given),
// measured the way `smelt bench` and llama-bench measure: one untimed warm-up, then REPS runs
// from an empty cache; ppN evaluates N random tokens as one batch, tgN evaluates N tokens one at
// a time. Prints the same JSON as `smelt bench --json`. node-llama-cpp is loaded from
// tests/parity/node_modules (installed by the parity tests). Not a test.
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [modelPath, threadsArg, pArg, nArg, rArg] = process.argv.slice(2);
const threads = Number(threadsArg ?? 2), nPrompt = Number(pArg ?? 128);
const nGen = Number(nArg ?? 32), reps = Number(rArg ?? 3);

const entry = join(root, "tests", "parity", "node_modules", "node-llama-cpp", "dist", "index.js");
const { getLlama } = await import(pathToFileURL(entry).href);
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true,
                               maxThreads: threads, logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const nVocab = [...model.iterateAllTokens()].length;

// Same fixed-seed idea as smelt bench: the ids do not matter for speed.
let state = 1234;
const rand = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
const tokens = Array.from({ length: Math.max(nPrompt, nGen) }, () => Math.floor(rand() * nVocab));

const ctx = await model.createContext({ contextSize: Math.max(nPrompt, nGen, 16) + 16,
                                        threads, batchSize: Math.max(nPrompt, 16) });
const seq = ctx.getSequence();

// llama-bench (and smelt bench) compute the logits of the last token of every batch, so the
// output matrix (the tied 128256 x 2048 embedding here, about a quarter of a quantized file) is
// read once per generated token. node-llama-cpp computes no logits for a token unless asked
// for a next token, which would skip that matrix: ask for one (greedy, the cheapest sampler: an
// argmax) on the last token of each batch.
const withOutput = (ids) =>
  ids.map((t, i) => (i === ids.length - 1
    ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t));

async function measure(prompt, n) {
  const rates = [];
  for (let rep = -1; rep < reps; rep++) {
    await seq.clearHistory();
    const t0 = process.hrtime.bigint();
    if (prompt)
      await seq.controlledEvaluate(withOutput(tokens.slice(0, n)));
    else
      for (let i = 0; i < n; i++)
        await seq.controlledEvaluate(withOutput([tokens[i]]));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (rep >= 0) rates.push(n / secs);
  }
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = rates.length > 1
    ? Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / (rates.length - 1)) : 0;
  return { mean, sd };
}

const out = [];
if (nPrompt > 0) {
  const r = await measure(true, nPrompt);
  out.push({ test: `pp${nPrompt}`, tokens_per_second: r.mean, stddev: r.sd });
}
if (nGen > 0) {
  const r = await measure(false, nGen);
  out.push({ test: `tg${nGen}`, tokens_per_second: r.mean, stddev: r.sd });
}
console.log(JSON.stringify(out));
await ctx.dispose();
await model.dispose();
process.exit(0);
