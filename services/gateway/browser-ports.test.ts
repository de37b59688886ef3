import { createServer, type Server } from "node:http";
import { chromiumAvailable, launchChromium } from "../../test/chromium";
import { BROWSERS_REFUSE, browserPortWarnings } from "./browser-ports";

const withChromium = chromiumAvailable() ? it : it.skip;

/** An HTTP server answering "up" on 127.0.0.1:`port`, or undefined when the port is taken. */
function serveOn(port: number): Promise<Server | undefined> {
  const server = createServer((_req, res) => res.end("up"));
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** The first of `ports` this process can listen on, with its server. */
async function serveOnFirstFree(ports: number[]): Promise<{ port: number; server: Server }> {
  for (const port of ports) {
    const server = await serveOn(port);
    if (server) return { port, server };
  }
  throw new Error(`none of ${ports.join(", ")} is free`);
}

/** Why Node's fetch refused `port` on 127.0.0.1, or "" when it tried to connect. */
async function fetchRefusal(port: number): Promise<string> {
  try {
    // Nothing listens on most of these; whatever does gets a second to answer.
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
    return "";
  } catch (err) {
    const cause = String((err as { cause?: unknown }).cause ?? err);
    return /bad port/.test(cause) ? cause : "";
  }
}

describe("BROWSERS_REFUSE", () => {
  it("is the list Node's fetch applies: every port on it is refused, the port after each is tried", async () => {
    const listed = [...BROWSERS_REFUSE];
    const neighbours = listed.map((p) => p + 1).filter((p) => !BROWSERS_REFUSE.has(p));
    const refused = await Promise.all(listed.map(fetchRefusal));
    expect(listed.filter((_, i) => !refused[i])).toEqual([]);
    const tried = await Promise.all(neighbours.map(fetchRefusal));
    expect(neighbours.filter((_, i) => tried[i])).toEqual([]);
    expect(listed.length).toBeGreaterThan(80);
  });

  withChromium(
    "is refused by Chromium, which opens the port after it",
    async () => {
      // Unprivileged ports from the list, and the free ports just above them.
      const high = [...BROWSERS_REFUSE].filter((p) => p > 1024);
      const refused = await serveOnFirstFree(high);
      const opened = await serveOnFirstFree(
        high.map((p) => p + 1).filter((p) => !BROWSERS_REFUSE.has(p)),
      );
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await expect(page.goto(`http://127.0.0.1:${refused.port}/`)).rejects.toThrow(
          /ERR_UNSAFE_PORT/,
        );
        const other = await browser.newPage();
        const answer = await other.goto(`http://127.0.0.1:${opened.port}/`);
        expect({ status: answer?.status(), body: await other.textContent("body") }).toEqual({
          status: 200,
          body: "up",
        });
      } finally {
        await browser.close();
        refused.server.close();
        opened.server.close();
      }
    },
    60_000,
  );
});

describe("browserPortWarnings", () => {
  it("says nothing about the default ports, or any port a browser opens", () => {
    expect(browserPortWarnings({ port: 8080, adminPort: 9080 })).toEqual([]);
    expect(browserPortWarnings({ port: 0, adminPort: 10_081 })).toEqual([]);
  });

  it("names the variable of each listener on a port browsers refuse", () => {
    const [api] = browserPortWarnings({ port: 6000, adminPort: 9080 });
    expect(api).toMatch(/REST API is on port 6000, which browsers refuse/);
    expect(api).toMatch(/Set GATEWAY_PORT to another port/);
    const both = browserPortWarnings({ port: 10_080, adminPort: 6666 });
    expect(both).toHaveLength(2);
    expect(both[1]).toMatch(/admin listener \(the dashboard\) is on port 6666/);
    expect(both[1]).toMatch(/Set GATEWAY_ADMIN_PORT/);
  });
});
