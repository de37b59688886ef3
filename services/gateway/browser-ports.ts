/**
 * The ports browsers, and `fetch` in Node, refuse to connect to: the Fetch standard's "bad
 * ports" (https://fetch.spec.whatwg.org/#port-blocking). A gateway listening on one still
 * answers curl and grpcurl, but no browser opens its API, its OpenAPI document or its
 * dashboard (Chromium says ERR_UNSAFE_PORT, Node's fetch "bad port").
 */
export const BROWSERS_REFUSE: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6679, 6697, 10080,
]);

/**
 * A warning for each of the gateway's listeners a browser cannot open, naming the variable
 * that chose its port; none when both are fine.
 */
export function browserPortWarnings(ports: { port: number; adminPort: number }): string[] {
  const listeners = [
    { name: "GATEWAY_PORT", port: ports.port, what: "REST API" },
    { name: "GATEWAY_ADMIN_PORT", port: ports.adminPort, what: "admin listener (the dashboard)" },
  ];
  return listeners
    .filter(({ port }) => BROWSERS_REFUSE.has(port))
    .map(
      ({ name, port, what }) =>
        `the gateway's ${what} is on port ${port}, which browsers refuse (a "bad port" in the ` +
        `Fetch standard): curl works there, a browser does not. Set ${name} to another port ` +
        `to use a browser.`,
    );
}
