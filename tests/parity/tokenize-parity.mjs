// SPDX-License-Identifier: GPL-3.0-or-later
//
// tokenize-parity.mjs: `smelt tokenize` against llama.cpp (npm node-llama-cpp, prebuilt, CPU) on
// every vocabulary in $SMELT_SHARED_DIR/fixtures/vocab and a multilingual text set. Prints TAP,
// one line per (vocabulary, text, parse-special flag). Run through run-tokenize-parity.sh, which
// installs node-llama-cpp first (or reports a TAP skip when it cannot).
//
// llama.cpp side: model.tokenize(text, specialTokens) = llama_tokenize(add_special = false,
// parse_special = specialTokens). Smelt side: `smelt tokenize MODEL --file F... [--parse-special]`,
// each text written to its own file as UTF-8 byte for byte.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const shared = process.env.SMELT_SHARED_DIR;
const build = process.env.SMELT_BUILD_DIR;
if (!shared || !build) {
  console.log("1..0 # SKIP SMELT_SHARED_DIR / SMELT_BUILD_DIR not set (run through meson test)");
  process.exit(0);
}
const smelt = join(build, "src", "app", "smelt");
const vocabDir = join(shared, "fixtures", "vocab");

const texts = [
  ["empty", ""],
  ["english", "Hello world"],
  ["leading space", " Hello world"],
  ["single space", " "],
  ["single newline", "\n"],
  ["edge spaces", "   leading and trailing spaces   "],
  ["newlines and tabs", "Hello\n\nworld\r\n\ttabbed line\n"],
  ["whitespace runs", "a    b\t\t\tc\n\n\n   \n d  \n"],
  ["chinese", "你好，世界！今天天气很好。我们一起去公园散步吧。"],
  ["japanese korean", "日本語のテキストとカタカナ。한국어 텍스트도 있습니다."],
  ["other scripts", "Ελληνικά, русский язык, עברית, العربية, हिन्दी, ภาษาไทย"],
  ["accents", "café naïve résumé e\u0301 A\u030a Ǆ ß"],
  ["python", "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"],
  ["c code", "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0; // done\n}\n"],
  ["json", "{\"key\": [1, 2.5, -3e10], \"nested\": {\"a\": null, \"b\": true}}"],
  ["emoji", "🦙🔥👍🏽 emoji 👨‍👩‍👧 family ❤️ ok"],
  ["numbers", "3.14159 1234567890 1,000,000 007 ١٢٣ ⅫⅢ ²³"],
  ["contractions", "I'm sure you'll see it's THEY'RE, we've, I'd, don't, O'Neil's 'quoted'"],
  ["punctuation", "Wait... what?!?! --- ==> $$$ ^^ ~~ || `tick` @home #tag 100%"],
  ["unicode spaces", "non\u00a0breaking\u3000ideographic\u2009thin\u0085nel"],
  ["long word", "a".repeat(120) + " pneumonoultramicroscopicsilicovolcanoconiosis"],
  ["mixed", "The 2nd café in 北京 costs ¥35 — 😀 (really!)\n"],
  ["chatml", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"],
  ["llama3 header", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"],
  ["inst", "<s>[INST] Hello there [/INST] Hi!</s>"],
  ["endoftext", "text<|endoftext|>more <unk> </s> <|end|>"],
];

const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 2,
                               logLevel: LlamaLogLevel.disabled });

const work = mkdtempSync(join(tmpdir(), "smelt-tok-parity-"));
const vocabs = readdirSync(vocabDir).filter((f) => f.endsWith(".gguf")).sort()
  .map((f) => ({ name: f, path: join(vocabDir, f) }));

// Pre-tokenizers no fixture carries, tried on real vocabularies: the same file with another
// tokenizer.ggml.pre (written by tests/parity/vocab-variant, Smelt's own GGUF writer).
const variants = [
  ["ggml-vocab-gpt-2.gguf", "default"],
  ["ggml-vocab-gpt-2.gguf", "-"],            // key absent: llama.cpp's "default" too
  ["ggml-vocab-gpt-2.gguf", "starcoder"],
  ["ggml-vocab-gpt-2.gguf", "falcon"],
  ["ggml-vocab-llama-bpe.gguf", "smaug-bpe"], // llama3 split without ignore_merges
];
for (const [base, pre] of variants) {
  const out = join(work, `${base.replace(".gguf", "")}-pre-${pre === "-" ? "absent" : pre}.gguf`);
  const r = spawnSync(join(build, "tests", "parity", "vocab-variant"),
                      [join(vocabDir, base), out, "tokenizer.ggml.pre", pre], { encoding: "utf8" });
  if (r.status === 0)
    vocabs.push({ name: `${base} pre=${pre === "-" ? "(absent)" : pre}`, path: out });
  else
    console.error(`vocab-variant failed: ${r.stderr}`);
}
const lines = [];
let n = 0, failed = 0;

// One smelt run per (vocabulary, flag) tokenizes every file, one line of ids per file.
function smeltTokenize(model, files, special) {
  const args = ["tokenize", model];
  for (const f of files)
    args.push("--file", f);
  if (special)
    args.push("--parse-special");
  const r = spawnSync(smelt, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0)
    return files.map(() => ({ error: `exit ${r.status}: ${r.stderr.trim()}` }));
  const out = r.stdout.split("\n");
  return files.map((_, i) => ({ ids: out[i] === "" || out[i] === undefined ? [] : out[i].split(" ").map(Number) }));
}

const files = texts.map((_, i) => join(work, `text-${i}`));
texts.forEach(([, text], i) => writeFileSync(files[i], text, "utf8"));

for (const { name: v, path: modelPath } of vocabs) {
  let model;
  try {
    model = await llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: true });
  } catch (e) {
    lines.push(`not ok ${++n} - ${v}: llama.cpp could not load it (${e.message})`);
    failed++;
    continue;
  }
  for (const special of [false, true]) {
    // parse-special only changes texts that contain special-token text.
    const chosen = texts.map((t, i) => i).filter((i) => !special || /[<\[]/.test(texts[i][1]));
    const got = smeltTokenize(modelPath, chosen.map((i) => files[i]), special);
    chosen.forEach((i, k) => {
      const [name, text] = texts[i];
      const want = Array.from(model.tokenize(text, special));
      const label = `${v}: ${name}${special ? " (parse special)" : ""}`;
      const g = got[k];
      if (!g.error && g.ids.length === want.length && g.ids.every((x, j) => x === want[j])) {
        lines.push(`ok ${++n} - ${label}`);
      } else {
        failed++;
        lines.push(`not ok ${++n} - ${label}`);
        lines.push(`  # llama.cpp: ${want.join(" ")}`);
        lines.push(`  # smelt:     ${g.error ?? g.ids.join(" ")}`);
      }
    });
  }
  await model.dispose();
}
rmSync(work, { recursive: true, force: true });
console.log("TAP version 13");
console.log(`1..${n}`);
for (const l of lines)
  console.log(l);
console.log(`# ${n - failed} passed, ${failed} failed`);
await llama.dispose();
process.exit(failed ? 1 : 0);
