#!/usr/bin/env node
// A `solc` command-line stand-in backed by the npm `solc` package (solc-js, WebAssembly).
//
// No native solc can be downloaded on our machines, so ledger/compiler.py hands this script to
// py-solc-x as `solc_binary`. It implements exactly what py-solc-x uses:
//
//   solc.cjs --version                 prints "Version: 0.8.28+commit.7893614a.Emscripten.clang"
//   solc.cjs --standard-json [flags]   standard JSON in on stdin, standard JSON out on stdout
//
// Path flags (--allow-paths, --base-path, --include-path) are accepted and ignored, as is
// --no-import-callback: there is no import callback, so every source, including OpenZeppelin's,
// must be in the input's `sources` under its import path. A missing one is reported by the
// compiler as an error in the JSON output, like native solc does.
//
// Why not the `solcjs` CLI: it prints a line before the JSON, and with large outputs node exits
// before a pipe drains (output cut at 64 KiB) or fails reading stdin with EAGAIN. Hence the
// synchronous read and write loops below, which retry on EAGAIN.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

// Flags that take a value, which we skip.
const IGNORED_WITH_VALUE = new Set(["--allow-paths", "--base-path", "--include-path"]);
const IGNORED = new Set(["--no-import-callback", "--pretty-json"]);

function loadSolc() {
  // Resolve from this script's project (scripts/ -> ../node_modules), not the caller's cwd.
  try {
    return require(require.resolve("solc", { paths: [path.join(__dirname, "..")] }));
  } catch (error) {
    process.stderr.write(`solc.cjs: cannot load the npm package "solc" (run \`npm ci\`): ${error.message}\n`);
    process.exit(2);
  }
}

// Sleep without spinning while a non-blocking fd has nothing for us.
function pause() {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
}

function readAll(fd) {
  const chunks = [];
  const buffer = Buffer.alloc(1 << 16);
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if (error.code === "EAGAIN") {
        pause();
        continue;
      }
      if (error.code === "EOF") break;
      throw error;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function writeAll(fd, text) {
  const data = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset, data.length - offset);
    } catch (error) {
      if (error.code !== "EAGAIN") throw error;
      pause();
    }
  }
}

function main(argv) {
  let standardJson = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version") {
      writeAll(1, `solc, the solidity compiler commandline interface (solc-js)\nVersion: ${loadSolc().version()}\n`);
      return 0;
    }
    if (arg === "--standard-json") {
      standardJson = true;
    } else if (IGNORED_WITH_VALUE.has(arg)) {
      i++;
    } else if (IGNORED.has(arg)) {
      // accepted, nothing to do
    } else {
      // Same wording as native solc, so py-solc-x raises its UnknownOption.
      process.stderr.write(`unrecognised option '${arg}'\n`);
      return 1;
    }
  }
  if (!standardJson) {
    process.stderr.write("solc.cjs supports only --version and --standard-json\n");
    return 1;
  }
  const input = readAll(0);
  const output = loadSolc().compile(input);
  writeAll(1, output);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
