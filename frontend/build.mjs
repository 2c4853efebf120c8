// Bundles src/pages/*.js (one ES module per page, shared code split into chunks) into
// ../static/dist/, where Django's staticfiles finds them. `node build.mjs --watch` rebuilds.

import { readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const pages = path.join(here, "src", "pages");

const outdir = path.join(here, "..", "static", "dist");

const options = {
  entryPoints: readdirSync(pages)
    .filter((name) => name.endsWith(".js"))
    .map((name) => path.join(pages, name)),
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "linked",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  // Chunk names carry a content hash: start empty so old chunks do not pile up.
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build(options);
}
