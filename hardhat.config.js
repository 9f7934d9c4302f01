// Hardhat 2 compiles with the same pinned solc and settings as ledger/compiler.py: both read
// contracts/compiler.json. The compiler is the npm `solc` package (solc-js), so nothing is
// downloaded and `npx hardhat compile` works offline; artifacts/build-info feeds Slither
// (`slither . --hardhat-ignore-compile`).
const path = require("node:path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const pinned = require("./contracts/compiler.json");

// The telemetry question only appears on an interactive terminal outside CI; never block on it.
process.env.HARDHAT_DISABLE_TELEMETRY_PROMPT ??= "true";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, _hre, runSuper) => {
  if (args.solcVersion !== pinned.version) {
    return runSuper(args);
  }
  const solcDir = path.dirname(require.resolve("solc/package.json", { paths: [__dirname] }));
  // Loading solc-js takes about half a second, so only when compiling.
  const longVersion = require(solcDir).version().replace(/\.Emscripten\.clang$/, "");
  if (!longVersion.startsWith(`${pinned.version}+`)) {
    throw new Error(
      `node_modules/solc is ${longVersion} but contracts/compiler.json pins ${pinned.version}; run \`npm ci\``,
    );
  }
  return {
    version: pinned.version,
    longVersion,
    compilerPath: path.join(solcDir, "soljson.js"),
    isSolcJs: true,
  };
});

const networks = {
  localhost: { url: "http://127.0.0.1:8545" }, // anvil
};
if (process.env.VERITAG_TESTNET_RPC_URL) {
  networks.testnet = {
    url: process.env.VERITAG_TESTNET_RPC_URL,
    accounts: process.env.VERITAG_TESTNET_PRIVATE_KEY ? [process.env.VERITAG_TESTNET_PRIVATE_KEY] : [],
    ...(process.env.VERITAG_TESTNET_CHAIN_ID
      ? { chainId: Number.parseInt(process.env.VERITAG_TESTNET_CHAIN_ID, 10) }
      : {}),
  };
}

/** @type {import("hardhat/config").HardhatUserConfig} */
module.exports = {
  solidity: {
    version: pinned.version,
    settings: pinned.settings,
  },
  paths: {
    sources: "./contracts",
  },
  networks,
};
