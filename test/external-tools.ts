/**
 * Where a tool comes from: a Debian package name, or, for one that apt does not have here
 * (kubectl comes with google-cloud-cli), how to install it.
 */
export type ToolSource = string | { install: string };

/**
 * Whether a program the tests start for real (a server, a browser, a command line tool) is
 * installed. Missing under CI is a broken set-up, since CI installs every package listed in
 * .ci/apt-packages.d, so this throws; elsewhere the tests that need it are skipped, with the
 * command that brings it.
 */
export function toolAvailable(found: boolean, what: string, source: ToolSource): boolean {
  if (found) return true;
  const how = typeof source === "string" ? `apt-get install -y ${source}` : source.install;
  const message = `${what} is missing: ${how}`;
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}
