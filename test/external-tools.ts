/**
 * Whether a program the tests start for real (a server, a browser, a command line tool) is
 * installed. Missing under CI is a broken set-up, since CI installs every package listed in
 * .ci/apt-packages.d, so this throws; elsewhere the tests that need it are skipped, with the
 * apt command that brings it.
 */
export function toolAvailable(found: boolean, what: string, aptPackage: string): boolean {
  if (found) return true;
  const message = `${what} is missing: apt-get install -y ${aptPackage}`;
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}
