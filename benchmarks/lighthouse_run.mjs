// One Lighthouse run of one page as a signed-in user, for benchmarks/lighthouse.py.
//
//   node benchmarks/lighthouse_run.mjs NODE_MODULES URL SESSIONID mobile|desktop REPORT.json
//
// The session cookie goes into the browser's cookie jar before the page is
// loaded, so the page's own requests (HTMX fragments, polling) are signed in
// too; the CLI's --extra-headers only signs the first request, and a fragment
// answered by the login page changes the very layout being measured.
// NODE_MODULES is the folder where `npm install lighthouse` put its packages
// (outside the repository).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, url, session, formFactor, report] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(join(modules, path)).href);
const { default: lighthouse } = await load("lighthouse/core/index.js");
const { default: desktop } = await load("lighthouse/core/config/desktop-config.js");
const { default: puppeteer } = await load("puppeteer-core/lib/esm/puppeteer/puppeteer-core.js");

const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  await page.setCookie({ name: "sessionid", value: session, url });
  const flags = { output: "json", onlyCategories: ["performance"], logLevel: "error" };
  const result = await lighthouse(url, flags, formFactor === "desktop" ? desktop : undefined, page);
  if (!result) throw new Error(`Lighthouse returned nothing for ${url}`);
  writeFileSync(report, result.report);
} finally {
  await browser.close();
}
