import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../mesh/config";
import { runProgram } from "./grpc-cli";

/**
 * `npm run codegen` (and CI's codegen:check) runs the real `buf breaking` against the
 * committed baseline image, buf.baseline.binpb. These tests run it on a copy of the project's
 * contracts, so that a deliberately incompatible change never touches the tree.
 */
describe("contract compatibility (buf breaking against buf.baseline.binpb)", () => {
  jest.setTimeout(120_000);
  const root = projectRoot();
  let copy: string;
  const users = (): string => join(copy, "proto", "shop", "users", "v1", "users.proto");
  const codegen = (...args: string[]) =>
    runProgram(process.execPath, [join(copy, "scripts", "codegen.mjs"), ...args], { cwd: copy });

  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), "contracts-"));
    for (const path of [
      "proto",
      "buf.yaml",
      "buf.gen.yaml",
      "buf.baseline.binpb",
      "scripts/codegen.mjs",
    ])
      cpSync(join(root, path), join(copy, path), { recursive: true });
    symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it("the committed contracts are compatible with the baseline", async () => {
    const run = await runProgram(
      join(root, "node_modules", ".bin", "buf"),
      ["breaking", "--against", "buf.baseline.binpb"],
      {
        cwd: copy,
      },
    );

    expect(run).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("a renamed field stops codegen with buf's findings and what to do, before gen/ is written", async () => {
    writeFileSync(
      users(),
      readFileSync(users(), "utf8").replace("string email = 2;", "string email_address = 2;"),
    );

    const run = await codegen();

    expect(run.code).toBe(1);
    const output = run.stdout + run.stderr;
    expect(output).toMatch(
      /proto\/shop\/users\/v1\/users\.proto:\d+:\d+:Field "2" on message "User" changed name from "email" to "email_address"\./,
    );
    expect(output).toContain(
      "codegen: buf breaking failed: proto/ is incompatible with the contracts in buf.baseline.binpb",
    );
    expect(output).toContain("npm run codegen:baseline");
    expect(existsSync(join(copy, "gen"))).toBe(false);
  });

  it("a new field is compatible; --new-baseline accepts a removed one and makes it the baseline", async () => {
    const proto = readFileSync(users(), "utf8");
    writeFileSync(
      users(),
      proto.replace("string email = 2;", "string email = 2;\n  string nickname = 5;"),
    );
    expect((await codegen()).code).toBe(0);

    const before = readFileSync(join(copy, "buf.baseline.binpb"));
    writeFileSync(
      users(),
      proto.replace(
        "  // Name shown to people; 1 to 100 characters.\n  string display_name = 3;\n",
        "",
      ),
    );
    const refused = await codegen();
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(
      /Previously present field "3" with name "display_name" on message "User" was deleted/,
    );
    const accepted = await codegen("--new-baseline");

    expect(accepted.code).toBe(0);
    expect(readFileSync(join(copy, "buf.baseline.binpb")).equals(before)).toBe(false);
    expect((await codegen()).code).toBe(0);
  });
});
