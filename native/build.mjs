// npm install's step for the project's one native addon (native/malloc_trim.c): compiles it
// with the node-gyp npm ships. Without a C compiler the install goes on (sqlite3 may have
// come prebuilt); the mesh then runs without handing freed memory back, and says so.
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// npm gives its scripts the path of its own node-gyp; run outside npm, take the one on PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp
  ? [process.execPath, [nodeGyp, "rebuild"]]
  : ["node-gyp", ["rebuild"]];
const result = spawnSync(command, args, { cwd: here, stdio: "inherit" });
if (result.status !== 0) {
  console.warn(
    "native/malloc_trim.c did not compile (a C compiler and python3 are needed): the mesh " +
      "will run, but idle members keep the memory glibc freed. `npm run install` tries again.",
  );
}
