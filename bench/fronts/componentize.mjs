// Lift a core wasm module into a component: node componentize.mjs JCO_TRANSPILE_DIR CORE.wasm
// WORLD.wit WORLD OUT.wasm. Uses the wasm-tools that npm's @bytecodealliance/jco-transpile
// ships (compiled to wasm): embed the WIT world into the module, then make the component.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [transpile, core, wit, world, out] = process.argv.slice(2);
const tools = await import(pathToFileURL(join(transpile, "dist", "wasm-tools.js")).href);
const embedded = await tools.componentEmbed({
  binary: new Uint8Array(await readFile(core)),
  witSource: await readFile(wit, "utf8"),
  world,
});
await writeFile(out, await tools.componentNew(embedded));
