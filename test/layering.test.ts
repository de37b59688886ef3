import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(__dirname, "..");

/**
 * Lints each source with the project's real ESLint and configuration, in one process, as if it
 * were the file at its path (an existing file, so that the type-aware rules find it in the
 * project); returns the messages of the layering rule, per case.
 */
function layeringErrors(cases: ReadonlyArray<{ path: string; source: string }>): string[][] {
  const script = `
    const { ESLint } = require("eslint");
    const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    (async () => {
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = [];
      for (const { path, source } of cases) {
        const [report] = await eslint.lintText(source, { filePath: path });
        out.push(report.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  const result = spawnSync(process.execPath, ["-e", script], {
    cwd: ROOT,
    input: JSON.stringify(cases),
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`eslint failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as string[][];
}

// One import per case, used so that no other rule has anything to say.
const importing = (specifier: string): string =>
  `import * as imported from "${specifier}";\nexport const used = imported;\n`;

const FORBIDDEN: Array<[path: string, specifier: string, why: string]> = [
  ["services/users/main.ts", "../orders/store", "never imports another service"],
  ["services/users/main.ts", "../../scripts/members", "imports only gen/, mesh's entries"],
  ["services/users/main.ts", "../../mesh/config/topology", "through its entries"],
  ["services/orders/migrations/index.ts", "../../users/store", "never imports another service"],
  ["mesh/config/topology.ts", "../../services/users/store", "never imports services"],
  ["mesh/index.ts", "../scripts/members", "never imports services"],
  ["scripts/members.ts", "../mesh/identity/spiffe", "through its entries"],
  ["test/support.ts", "../mesh/store/sqlite", "through its entries"],
];
const ALLOWED: Array<[path: string, specifier: string]> = [
  ["services/users/main.ts", "../../mesh"],
  ["services/users/main.ts", "../../mesh/config"],
  ["services/users/main.ts", "../../gen/shop/users/v1/users"],
  ["services/users/main.ts", "../common/money"],
  ["services/users/main.ts", "./store"],
  ["services/orders/migrations/index.ts", "../store"],
  ["services/orders/migrations/index.ts", "../../common/money"],
  ["mesh/config/topology.ts", "../server"],
  ["scripts/members.ts", "../mesh/identity"],
];

describe("the layering, as `npm run lint` enforces it", () => {
  let forbidden: string[][];
  let allowed: string[][];

  beforeAll(() => {
    const results = layeringErrors(
      [...FORBIDDEN, ...ALLOWED].map(([path, specifier]) => ({
        path,
        source: importing(specifier),
      })),
    );
    forbidden = results.slice(0, FORBIDDEN.length);
    allowed = results.slice(FORBIDDEN.length);
  }, 180_000);

  it.each(FORBIDDEN.map((c, i) => [...c, i] as const))(
    "%s may not import %s",
    (_path, _specifier, why, i) => {
      expect(forbidden[i].some((message) => message.includes(why))).toBe(true);
    },
  );

  it.each(ALLOWED.map((c, i) => [...c, i] as const))("%s may import %s", (_path, _spec, i) => {
    expect(allowed[i]).toEqual([]);
  });
});
