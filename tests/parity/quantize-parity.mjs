// SPDX-License-Identifier: GPL-3.0-or-later
//
// quantize-parity.mjs: llama.cpp (npm node-llama-cpp 3.22.1, prebuilt CPU build) loads the files
// `smelt quantize` writes and predicts the same next tokens from them as from the F32 input.
// Prints TAP; run through run-quantize-parity.sh, which installs node-llama-cpp first (or reports
// a TAP skip).
//
// The model: a llama-shaped F32 GGUF written by Smelt's own writer around the real SPM vocabulary
// fixture (32000 tokens), random weights with a fixed seed, whose output matrix makes it predict
// a fixed successor of the last token decisively (tests/common/sm-test-model.c, --bigram), so
// top-1 is a real signal: broken blocks in any quantized tensor change it. Each TYPE (Q8_0, Q4_0,
// Q4_K_M, Q6_K): llama.cpp loads the file, and its top-1 at every position of a token prompt
// equals its top-1 on the F32 file. Token arrays, never strings (testing.md).
//
// And against llama.cpp's own quantizer: llama_model_quantize of the libllama the npm package
// ships, called through tests/parity/llama-quantize-ref (dlopen), on random llama-shaped models
// (F32/F16/BF16 weights, a tensor with rows of 96, 6 layers with GQA 4; untied, and tied for a
// few TYPEs): for every TYPE Smelt makes, every tensor of Smelt's output has the same type and the
// same bytes as llama.cpp's.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const shared = process.env.SMELT_SHARED_DIR;
const build = process.env.SMELT_BUILD_DIR;
if (!shared || !build) {
  console.log("1..0 # SKIP SMELT_SHARED_DIR / SMELT_BUILD_DIR not set (run through meson test)");
  process.exit(0);
}
const smelt = join(build, "src", "app", "smelt");
const makeModel = join(build, "tests", "common", "smelt-make-test-model");
const vocabFile = join(shared, "fixtures", "vocab", "ggml-vocab-llama-spm.gguf");
const quantizeRef = join(build, "tests", "parity", "llama-quantize-ref");
const compareModels = join(build, "tests", "common", "smelt-compare-models");
const nVocab = 32000;

// TYPE -> general.file_type (llama_ftype), for llama_model_quantize.
const ftypes = {
  Q8_0: 7, Q6_K: 18, Q5_K_M: 17, Q5_K_S: 16, Q5_1: 9, Q5_0: 8, Q4_K_M: 15, Q4_K_S: 14, Q4_1: 3,
  Q4_0: 2, IQ4_NL: 25, IQ4_XS: 30, Q3_K_L: 13, Q3_K_M: 12, Q3_K_S: 11, Q2_K: 10, F16: 1, BF16: 32,
};

// The libllama shipped in the npm package (its file name carries the llama.cpp version).
function findLibllama() {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = join(here, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
  if (!existsSync(dir))
    return null;
  const lib = readdirSync(dir).find((f) => /^libllama(\.v[0-9.]+)?\.so$/.test(f));
  return lib ? join(dir, lib) : null;
}

let llamaMod;
try {
  llamaMod = await import("node-llama-cpp");
} catch (e) {
  console.log(`1..0 # SKIP node-llama-cpp not available: ${e.message}`);
  process.exit(0);
}
const llama = await llamaMod.getLlama({ gpu: false, build: "never", skipDownload: true,
                                        maxThreads: 2, logLevel: "error" });

// Relative tolerance on the last position's logits per TYPE (max |diff| / max |logit|).
const tolerance = { Q8_0: 0.01, Q6_K: 0.025, Q4_K_M: 0.06, Q4_0: 0.07 };

const tmp = mkdtempSync(join(tmpdir(), "smelt-quantize-parity-"));
let n = 0, failed = 0;
const ok = (pass, name, diag = "") => {
  n++;
  if (!pass) failed++;
  console.log(`${pass ? "ok" : "not ok"} ${n} - ${name}${diag ? ` # ${diag}` : ""}`);
};

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr || r.error}`);
  return r.stdout;
}

// The same successor function as sm_test_model_bigram_next().
const bigramNext = (t) => (t * 7919 + 13) % nVocab;

// A fixed prompt of ordinary token ids (no BOS/EOS/byte tokens), deterministic.
const prompt = [];
for (let i = 0, x = 12345; i < 24; i++) {
  x = (x * 1103515245 + 12345) % 2147483648;
  prompt.push(300 + (x % 31000));
}

// llama.cpp's top-1 after every position of the prompt.
async function top1All(modelPath, tokens = prompt) {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 64, threads: 2, batchSize: 32 });
  try {
    const seq = ctx.getSequence();
    const want = { generateNext: { logits: true } };
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, want]));
    const top1 = res.map((r) => {
      let best = -1, bestV = Number.NEGATIVE_INFINITY;
      for (const [tok, v] of r.next.logits)
        if (v > bestV) {
          bestV = v;
          best = tok;
        }
      return best;
    });
    const last = new Float32Array(nVocab);
    for (const [tok, v] of res[res.length - 1].next.logits)
      last[tok] = v;
    return { top1, last };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

try {
  const f32 = join(tmp, "model-f32.gguf");
  run(makeModel, [f32, "--vocab-file", vocabFile, "--bigram", "--type", "f32", "--layers", "2",
                  "--dim", "256", "--heads", "4", "--kv-heads", "2", "--ffn", "512", "--seed",
                  "7"]);
  const { top1: ref, last: refLast } = await top1All(f32);
  const hits = ref.filter((t, i) => t === bigramNext(prompt[i])).length;
  // The model is only useful if its predictions are decisive: nearly all follow the bigram.
  ok(hits >= prompt.length - 2, "F32 input: llama.cpp follows the model's successor map",
     `${hits}/${prompt.length}`);

  for (const type of ["Q8_0", "Q4_0", "Q4_K_M", "Q6_K"]) {
    const out = join(tmp, `model-${type}.gguf`);
    let top1, last;
    try {
      run(smelt, ["quantize", f32, out, type, "--threads", "2"]);
      ({ top1, last } = await top1All(out));
      ok(true, `${type}: llama.cpp loads smelt's file`);
    } catch (e) {
      ok(false, `${type}: llama.cpp loads smelt's file`, String(e.message).split("\n")[0]);
      continue;
    }
    const diff = top1.map((t, i) => (t === ref[i] ? null : `pos ${i}: ${t} vs ${ref[i]}`))
                     .filter((d) => d !== null);
    ok(diff.length === 0, `${type}: same top-1 as F32 at all ${prompt.length} positions`,
       diff.slice(0, 3).join(", "));
    // The whole network numerically: last position's logits against F32's, relative to the
    // largest |logit|. Quantization noise only; a wrong block layout anywhere is far above.
    let spread = 0, maxDiff = 0;
    for (let i = 0; i < nVocab; i++) {
      spread = Math.max(spread, Math.abs(refLast[i]));
      maxDiff = Math.max(maxDiff, Math.abs(last[i] - refLast[i]));
    }
    ok(maxDiff / spread <= tolerance[type], `${type}: logits close to F32's`,
       `max |diff| / spread = ${(maxDiff / spread).toFixed(4)} (tolerance ${tolerance[type]})`);
    rmSync(out, { force: true });
  }

  // Tensor for tensor against llama.cpp's own quantizer, every TYPE, untied and tied models.
  const libllama = findLibllama();
  if (libllama === null) {
    ok(false, "libllama found in node_modules/@node-llama-cpp/linux-x64");
  } else {
    for (const tied of [false, true]) {
      const src = join(tmp, `mixed${tied ? "-tied" : ""}.gguf`);
      run(makeModel, [src, "--type", "mixed", "--odd", "--layers", "6", "--dim", "256", "--heads",
                      "8", "--kv-heads", "2", "--ffn", "512", "--vocab", "300", "--seed", "11",
                      ...(tied ? ["--tied"] : [])]);
      // Every TYPE untied; the tied model (token_embd takes the output rules) for a few.
      for (const [type, ftype] of Object.entries(ftypes)) {
        if (tied && !["Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M"].includes(type))
          continue;
        const mine = join(tmp, "mine.gguf"), theirs = join(tmp, "theirs.gguf");
        run(smelt, ["quantize", src, mine, type, "--threads", "2"]);
        run(quantizeRef, [libllama, src, theirs, String(ftype), "2"]);
        const lines = run(compareModels, ["--tensors", theirs, mine]).trim().split("\n");
        const summary = lines.pop();
        const bad = lines.filter((l) => !l.endsWith(" same")).slice(0, 3);
        ok(/^tensors=(\d+) same=\1$/.test(summary),
           `${type}${tied ? " (tied)" : ""}: every tensor as llama.cpp quantizes it`,
           bad.length ? `${summary}; ${bad.join(", ")}` : summary);
        rmSync(mine, { force: true });
        rmSync(theirs, { force: true });
      }
      rmSync(src, { force: true });
    }
  }

  // A real trained model (stories260K: dim 64, FFN 172, so K-quants fall back per row length):
  // its top-1 along a story prompt, F32 against Smelt's Q8_0 and Q4_K_M files.
  const stories = join(shared, "fixtures", "models", "stories260K.gguf");
  const storyModel = await llama.loadModel({ modelPath: stories, gpuLayers: 0 });
  const story = [...storyModel.tokenize("Once upon a time, there was a little girl named Lily. " +
                                        "She loved to play outside in the park with her friend")];
  await storyModel.dispose();
  const storyRef = (await top1All(stories, story)).top1;
  for (const [type, minAgree] of [["Q8_0", 1.0], ["Q4_K_M", 0.9]]) {
    const out = join(tmp, `stories-${type}.gguf`);
    run(smelt, ["quantize", stories, out, type, "--threads", "2"]);
    const top1 = (await top1All(out, story)).top1;
    const agree = top1.filter((t, i) => t === storyRef[i]).length;
    ok(agree >= minAgree * story.length, `stories260K ${type}: top-1 agrees with F32`,
       `${agree}/${story.length}`);
    rmSync(out, { force: true });
  }
} catch (e) {
  ok(false, "quantize parity", String(e.message).split("\n")[0]);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed > 0 ? 1 : 0);
