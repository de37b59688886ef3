import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { toolAvailable } from "./external-tools";

/** Debian's chromium, which CI installs (.ci/apt-packages.d). */
export const CHROMIUM = "/usr/bin/chromium";

/** Headless, with nothing that reaches the network or needs a GPU or sandbox. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Whether chromium is installed; see {@link toolAvailable} (missing under CI throws). */
export function chromiumAvailable(): boolean {
  return toolAvailable(existsSync(CHROMIUM), CHROMIUM, "chromium");
}

/** A headless Chromium with a fresh profile of its own (playwright makes and removes it). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
