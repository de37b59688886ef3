import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { projectRoot } from "../../mesh/config";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  png: "image/png",
};

/** A file the gateway serves as is. */
export interface StaticFile {
  path: string;
  contentType: string;
}

/**
 * The dashboard's files by URL path: its page, script and style from
 * services/gateway/dashboard/public (read from the source tree, which `dist/` does not copy),
 * and Chart.js's UMD build straight from node_modules.
 */
export function staticFiles(root = projectRoot()): Map<string, StaticFile> {
  const publicDir = join(root, "services", "gateway", "dashboard", "public");
  const file = (path: string): StaticFile => ({
    path,
    contentType: TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream",
  });
  return new Map([
    ["/", file(join(publicDir, "index.html"))],
    ["/dashboard/app.js", file(join(publicDir, "app.js"))],
    ["/dashboard/style.css", file(join(publicDir, "style.css"))],
    ["/vendor/chart.umd.js", file(join(root, "node_modules", "chart.js", "dist", "chart.umd.js"))],
  ]);
}

/** A file's bytes, read once and kept. */
export function fileCache(): (file: StaticFile) => Promise<Buffer> {
  const cache = new Map<string, Promise<Buffer>>();
  return (file) => {
    let bytes = cache.get(file.path);
    if (!bytes) {
      bytes = readFile(file.path);
      cache.set(file.path, bytes);
      bytes.catch(() => cache.delete(file.path));
    }
    return bytes;
  };
}
