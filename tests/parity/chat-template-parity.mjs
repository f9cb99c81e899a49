// SPDX-License-Identifier: GPL-3.0-or-later
//
// chat-template-parity.mjs: Smelt's hand-written chat template families against a real Jinja
// engine (@huggingface/jinja, the one node-llama-cpp and transformers.js use) rendering the
// template text itself. One TAP line per (template, conversation, generation prompt).
//
// Templates: the two real ones in the fixture vocabularies (Qwen2 ChatML with its default system
// prompt, Phi-3), and templates written here in the shape of the published Llama 3, Llama 3.1,
// Qwen2.5, Llama 2 chat, Mistral Instruct v0.1 and Phi-3 templates (their tool-calling branches
// left out). Smelt side: tests/parity/chat-render (sm_chat_template_render).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const shared = process.env.SMELT_SHARED_DIR;
const build = process.env.SMELT_BUILD_DIR;
if (!shared || !build) {
  console.log("1..0 # SKIP SMELT_SHARED_DIR / SMELT_BUILD_DIR not set (run through meson test)");
  process.exit(0);
}
const render = join(build, "tests", "parity", "chat-render");
const vocab = (name) => join(shared, "fixtures", "vocab", `ggml-vocab-${name}.gguf`);
const { Template } = await import("@huggingface/jinja");

const T = {
  llama3:
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = " +
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + " +
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}" +
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant" +
    "<|end_header_id|>\\n\\n' }}{% endif %}",
  llama31:
    "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n" +
    "{%- endif %}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = " +
    "messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set " +
    "system_message = \"\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n" +
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n" +
    "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n    {{- " +
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + " +
    "'<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- " +
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n",
  qwen25:
    "{%- if messages[0]['role'] == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0]['content'] + " +
    "'<|im_end|>\\n' }}\n{%- else %}\n    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba " +
    "Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n{%- endif %}\n{%- for message in messages %}\n" +
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or " +
    "(message.role == \"assistant\") %}\n        {{- '<|im_start|>' + message.role + '\\n' + " +
    "message.content + '<|im_end|>' + '\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if " +
    "add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set " +
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set " +
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and " +
    "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + " +
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if " +
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif " +
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
  mistral:
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + " +
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + " +
    "eos_token + ' ' }}{% endif %}{% endfor %}",
  phi3:
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + " +
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + " +
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + " +
    "message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ " +
    "'<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",
};

const S = (c) => ({ role: "system", content: c });
const U = (c) => ({ role: "user", content: c });
const A = (c) => ({ role: "assistant", content: c });
const conversations = [
  ["one user turn", [U("Hi!")]],
  ["system + user", [S("You are terse."), U("What is 2+2?")]],
  ["three turns", [U("What is 2+2?"), A("4"), U("And 3+3?")]],
  ["system + three turns", [S("Be brief."), U("Hello"), A("Hi there."), U("Bye")]],
  ["untrimmed contents", [S("  spaced system \n"), U("\n  Hi there \t\n"), A(" ok "), U("next ")]],
  ["unicode", [U("你好！🦙 café"), A("こんにちは"), U("{{ not a template }} <b>")]],
];

// [label, vocab, template text or null for the file's own, conversations that apply]
const noSystem = (c) => !c.some((m) => m.role === "system");
const cases = [
  ["qwen2 (fixture's own)", "qwen2", null, () => true],
  ["phi-3 (fixture's own)", "phi-3", null, () => true],
  ["llama3", "llama-bpe", T.llama3, () => true],
  ["llama3.1", "llama-bpe", T.llama31, () => true],
  ["qwen2.5", "qwen2", T.qwen25, () => true],
  ["llama2", "llama-spm", T.llama2, () => true],
  // Mistral v0.1 has no system turn (its template rejects one); Smelt folds it into the first
  // user turn instead, so only conversations without one are compared.
  ["mistral", "llama-spm", T.mistral, noSystem],
  ["phi3", "phi-3", T.phi3, () => true],
];

// Token texts the Jinja side needs, as the vocabularies define them.
const specials = {
  "qwen2": { bos_token: "<|endoftext|>", eos_token: "<|endoftext|>" },
  "phi-3": { bos_token: "<s>", eos_token: "<|endoftext|>" },
  "llama-bpe": { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>" },
  "llama-spm": { bos_token: "<s>", eos_token: "</s>" },
};
const ownTemplates = {
  // The fixtures' templates, as stored in their tokenizer.chat_template.
  "qwen2": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ " +
           "'<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + " +
           "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if " +
           "add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  "phi-3": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + " +
           "'\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif " +
           "(message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
};

const work = mkdtempSync(join(tmpdir(), "smelt-chat-parity-"));
const lines = [];
let n = 0, failed = 0;
for (const [label, v, text, applies] of cases) {
  const source = text ?? ownTemplates[v];
  const tmpl = new Template(source);
  let file = "-";
  if (text !== null) {
    file = join(work, `${n}.jinja`);
    writeFileSync(file, text, "utf8");
  }
  for (const [cname, conv] of conversations) {
    if (!applies(conv))
      continue;
    for (const gen of [true, false]) {
      const want = tmpl.render({ messages: conv, add_generation_prompt: gen, ...specials[v] });
      const args = [vocab(v), file, gen ? "1" : "0"];
      for (const m of conv)
        args.push(m.role, m.content);
      const r = spawnSync(render, args, { encoding: "utf8" });
      const name = `${label}: ${cname}${gen ? " + generation prompt" : ""}`;
      if (r.status === 0 && r.stdout === want) {
        lines.push(`ok ${++n} - ${name}`);
      } else {
        failed++;
        lines.push(`not ok ${++n} - ${name}`);
        lines.push(`  # jinja: ${JSON.stringify(want)}`);
        lines.push(`  # smelt: ${r.status === 0 ? JSON.stringify(r.stdout) : r.stderr.trim()}`);
      }
    }
  }
}
rmSync(work, { recursive: true, force: true });
console.log("TAP version 13");
console.log(`1..${n}`);
for (const l of lines)
  console.log(l);
console.log(`# ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
