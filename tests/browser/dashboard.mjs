// Clicks through the dashboard (`zenml up`) in headless Chromium driven by playwright-core,
// asserting what is on screen, and saves a screenshot of each page.
//
//   node tests/browser/dashboard.mjs CONFIG.json
//
// CONFIG.json (written by tests/dashboard_browser.rs):
//   mode             "walk": the full walk over the repository with the training runs and the
//                    XSS probe; "runs": a repository with one run (the MySQL store)
//   url              the dashboard's URL, as `zenml up` printed it
//   chromium         the Chromium executable
//   playwright_core  the folder of npm's playwright-core package
//   screenshots      the folder for the screenshots (created)
//   readme_screenshot  optional: where to save the README's screenshot (a run page)
//   training, xss, live, mysql_run  what the repository holds (see the Rust test); `live`
//                    names a running run and the file whose creation lets it finish
//
// Every page is checked for: console errors, uncaught page errors, dialogs (alert, confirm,
// prompt), requests leaving the dashboard's origin, failed requests, responses without the
// Content-Security-Policy, `X-Content-Type-Options: nosniff` and `Server-Timing` headers of
// the spec, Content-Security-Policy violations, the flag `window.__zenmlXss` that every
// injected payload sets, and injected elements or event handler attributes in the DOM.
// Waits are playwright's (for a URL, a load state, an element); nothing sleeps.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { chromium } = await import(pathToFileURL(join(config.playwright_core, 'index.mjs')).href);

/** The Content-Security-Policy of the spec, directive by directive. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
];

/** Chromium's flags on this machine: its closed network otherwise floods it with refused
 * connections. The fresh `--user-data-dir` is the folder given to launchPersistentContext
 * (playwright refuses the flag itself). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const base = new URL(config.url);
const origin = base.origin;
/** Problems seen since the last page check: console errors, bad headers, dialogs, … */
let problems = [];
/** Header checks in flight (the response event hands headers over asynchronously). */
let pending = [];
/** Responses with these statuses are expected (a deliberate 404), by URL. */
const expectedStatus = new Map();
let screenshots = 0;
let pages = 0;

mkdirSync(config.screenshots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'zenml-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: config.chromium,
  headless: true,
  args: CHROMIUM_ARGS,
  viewport: { width: 1280, height: 800 },
  deviceScaleFactor: 1,
  acceptDownloads: false,
});

let page;
try {
  page = context.pages()[0] ?? (await context.newPage());
  await watch(context, page);
  if (config.mode === 'walk') {
    await live();
    await walk();
    await described();
    await xss();
  } else if (config.mode === 'runs') {
    await runsOnly();
  } else {
    throw new Error(`unknown mode ${JSON.stringify(config.mode)}`);
  }
  await settle('the last page');
  console.log(`browser checks passed: ${pages} pages, ${screenshots} screenshots in ${config.screenshots}`);
} catch (error) {
  console.log(`FAILED at ${page?.url() ?? 'start'}: ${error?.stack ?? error}`);
  for (const problem of problems) {
    console.log(`  problem: ${problem}`);
  }
  if (page) {
    await page
      .screenshot({ path: join(config.screenshots, 'failure.png'), fullPage: true })
      .then(() => console.log(`  screenshot of the failure: ${join(config.screenshots, 'failure.png')}`))
      .catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

/** Installs the listeners that record problems on every page. */
async function watch(context, page) {
  await context.addInitScript(() => {
    window.__zenmlCspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__zenmlCspViolations.push(
        `${e.violatedDirective} blocked ${e.blockedURI || 'inline content'} (${e.sourceFile}:${e.lineNumber}): ${e.sample}`,
      );
    });
  });
  // Nothing may be fetched from outside the dashboard: the page must work offline.
  await context.route(
    (url) => url.origin !== origin,
    (route) => {
      problems.push(`request outside the dashboard: ${route.request().url()}`);
      return route.abort();
    },
  );
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(30_000);
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const at = message.location();
      problems.push(`console error on ${page.url()}: ${message.text()} (${at.url}:${at.lineNumber})`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error on ${page.url()}: ${error.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened on ${page.url()}: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed';
    // A navigation away cancels what the previous page still loaded (e.g. a poll).
    if (failure !== 'net::ERR_ABORTED') {
      problems.push(`request failed: ${request.method()} ${request.url()}: ${failure}`);
    }
  });
  page.on('response', (response) => {
    if (new URL(response.url()).origin === origin) {
      pending.push(checkHeaders(response));
    }
  });
}

/** Checks one of the dashboard's responses: status and the spec's headers. */
async function checkHeaders(response) {
  const url = response.url();
  const what = `${response.request().method()} ${new URL(url).pathname}${new URL(url).search}`;
  const status = response.status();
  if (status >= 400 && expectedStatus.get(url) !== status) {
    problems.push(`${what} answered ${status}`);
  }
  let headers;
  try {
    headers = await response.allHeaders();
  } catch (error) {
    // The page navigated away before the headers could be read: nothing to check.
    return;
  }
  const csp = headers['content-security-policy'];
  if (csp === undefined) {
    problems.push(`${what}: no Content-Security-Policy header`);
  } else {
    const directives = csp.split(';').map((d) => d.trim().replace(/\s+/g, ' ')).filter(Boolean);
    const missing = CSP.filter((d) => !directives.includes(d));
    const extra = directives.filter((d) => !CSP.includes(d));
    if (missing.length > 0 || extra.length > 0) {
      problems.push(
        `${what}: Content-Security-Policy ${JSON.stringify(csp)} differs from the spec (missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)})`,
      );
    }
  }
  if (headers['x-content-type-options'] !== 'nosniff') {
    problems.push(`${what}: X-Content-Type-Options is ${JSON.stringify(headers['x-content-type-options'])}, not "nosniff"`);
  }
  const timing = headers['server-timing'];
  if (timing === undefined || !/^app;dur=\d+(\.\d+)?$/.test(timing.trim())) {
    problems.push(`${what}: Server-Timing is ${JSON.stringify(timing)}, not "app;dur=<milliseconds>"`);
  }
}

/** What the page holds that an injected payload would have put there, and whether one ran. */
function injectedContent() {
  const found = [];
  if (window.__zenmlXss !== undefined) {
    found.push(`an injected script ran: window.__zenmlXss = ${JSON.stringify(window.__zenmlXss)}`);
  }
  for (const script of document.querySelectorAll('script')) {
    const src =
      script.getAttribute('src') ||
      script.getAttribute('href') ||
      script.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
    const url = src ? new URL(src, location.href) : null;
    if (!url || url.origin !== location.origin || !url.pathname.startsWith('/static/')) {
      found.push(`a script element that is not the dashboard's own file: ${script.outerHTML.slice(0, 160)}`);
    }
  }
  for (const element of document.querySelectorAll('*')) {
    for (const attribute of element.attributes) {
      if (/^on/i.test(attribute.name)) {
        found.push(`<${element.localName}> has the event handler attribute ${attribute.name}="${attribute.value.slice(0, 80)}"`);
      }
      if (/^(href|src|action|formaction|xlink:href)$/i.test(attribute.name) && /^\s*javascript:/i.test(attribute.value)) {
        found.push(`<${element.localName}> has a javascript: URL in ${attribute.name}`);
      }
    }
  }
  for (const element of document.querySelectorAll('.zenml-xss-probe, iframe, object, embed, base, meta[http-equiv]')) {
    found.push(`an injected element: ${element.outerHTML.slice(0, 160)}`);
  }
  for (const violation of window.__zenmlCspViolations ?? []) {
    found.push(`the Content-Security-Policy blocked something (so the page holds it): ${violation}`);
  }
  return found;
}

/** After a page loaded: waits for it and its header checks, then fails on any problem. */
async function settle(name) {
  await page.waitForLoadState('load');
  const injected = await page.evaluate(injectedContent);
  problems.push(...injected.map((p) => `${name}: ${p}`));
  const inFlight = pending;
  pending = [];
  await Promise.all(inFlight);
  if (problems.length > 0) {
    const found = problems;
    problems = [];
    throw new Error(`${name} (${page.url()}):\n  ${found.join('\n  ')}`);
  }
}

/** Checks the page that is loaded now, saves its screenshot as `NN-slug.png`. */
async function done(slug, name) {
  await settle(name);
  pages += 1;
  screenshots += 1;
  const file = join(config.screenshots, `${String(screenshots).padStart(2, '0')}-${slug}.png`);
  // A full-page screenshot of a document that is not HTML (an SVG opened as a page)
  // never finishes; its viewport is the whole picture.
  const fullPage = await page.evaluate(() => document.documentElement.localName === 'html');
  await page.screenshot({ path: file, fullPage });
  console.log(`ok: ${name} (${new URL(page.url()).pathname}${new URL(page.url()).search}) -> ${file}`);
}

/** The path and query of the page. */
function here() {
  const url = new URL(page.url());
  return `${url.pathname}${url.search}`;
}

/** Clicks `locator` and waits until the page at a URL for which `test(url)` holds has loaded. */
async function clickTo(locator, test, what) {
  const count = await locator.count();
  assert.ok(count > 0, `${what}: nothing to click on ${here()}`);
  await Promise.all([
    page.waitForURL((url) => test(url), { waitUntil: 'load' }),
    locator.first().click(),
  ]);
  await settle(`the page reached by ${what}`);
}

/** Goes to `path` (relative to the dashboard) and waits for its load. */
async function visit(path, expectStatus = 200) {
  const url = new URL(path, base).href;
  if (expectStatus >= 400) {
    expectedStatus.set(url, expectStatus);
  }
  const response = await page.goto(url, { waitUntil: 'load' });
  assert.ok(response, `no response for ${path}`);
  assert.equal(response.status(), expectStatus, `${path} answered ${response.status()}`);
  await settle(path);
  return response;
}

/** The text of the first element matching `selector`, with white space collapsed. */
async function text(selector) {
  const locator = page.locator(selector);
  assert.ok((await locator.count()) > 0, `no ${selector} on ${here()}`);
  return squash(await locator.first().textContent());
}

/** `s` with runs of white space made one space, trimmed. */
function squash(s) {
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/** Asserts that `selector` exists on the page. */
async function present(selector) {
  assert.ok((await page.locator(selector).count()) > 0, `no ${selector} on ${here()}`);
}

/** Whether the page text `found` shows `value` as typed: verbatim, or as a JSON (or TOML)
 * string, quoted or not. Never decoded markup: that would not be the text itself. */
function shows(found, value) {
  const quoted = JSON.stringify(value);
  return [value, quoted, quoted.slice(1, -1)].some((v) => found.includes(squash(v)));
}

/** Asserts that the text of `selector` holds each of `parts` (see `shows`). */
async function holds(selector, parts) {
  const found = await text(selector);
  for (const part of parts) {
    assert.ok(shows(found, part), `${selector} on ${here()} lacks ${JSON.stringify(part)}; it reads ${JSON.stringify(found.slice(0, 600))}`);
  }
}

/** The run links of the runs table: name → href. */
async function runLinks() {
  const links = await page.locator('table#runs tr.run-row a.run-link').evaluateAll((as) =>
    as.map((a) => [a.textContent.trim(), a.getAttribute('href')]),
  );
  return new Map(links);
}

/** The row of `table` whose link `linkSelector` reads exactly `name`. */
function rowOf(table, linkSelector, name) {
  return page.locator(`${table} tr`).filter({
    has: page.locator(linkSelector).getByText(name, { exact: true }),
  });
}

/** A path test: the URL's path is `path` exactly. */
function atPath(path) {
  return (url) => url.pathname === path;
}

/** The nav link `id` leads to `path`; clicks it. */
async function navTo(id, path) {
  await clickTo(page.locator(`nav#nav a#${id}`), atPath(path), `the nav link #${id}`);
}

/** Checks the nav bar of the spec on the page that is loaded now. */
async function checkNav() {
  for (const [id, path] of [
    ['nav-pipelines', '/pipelines'],
    ['nav-runs', '/runs'],
    ['nav-artifacts', '/artifacts'],
    ['nav-compare', '/compare'],
    ['nav-stacks', '/stacks'],
    ['nav-flavors', '/flavors'],
  ]) {
    const href = await page.locator(`nav#nav a#${id}`).getAttribute('href');
    assert.ok(href !== null, `no nav#nav a#${id} on ${here()}`);
    assert.equal(new URL(href, page.url()).pathname, path, `a#${id} links ${href}`);
  }
  assert.ok((await text('h1')).length > 0, `the h1 of ${here()} is empty`);
}

/** The value of the option of select#metric for the metadata key `key`: the key itself or
 * `STEP.key`; its text must read the same, as typed. */
async function metricOption(key) {
  const options = await page.locator('select#metric option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  const option = options.find(([value]) => value === key || value.endsWith(`.${key}`));
  assert.ok(option, `select#metric offers ${JSON.stringify(key)}: ${JSON.stringify(options)}`);
  assert.equal(squash(option[1]), squash(option[0]), 'the option reads as its value');
  return option[0];
}

/** Waits for the image `selector` to load and asserts that it has a size. */
async function imageLoads(selector) {
  await page.waitForFunction((s) => document.querySelector(s)?.complete === true, selector);
  const width = await page.locator(selector).evaluate((img) => img.naturalWidth);
  assert.ok(width > 0, `${selector} on ${here()} did not load (${await page.locator(selector).getAttribute('src')})`);
}

/** Submits the form around `locator` as a user does: its submit button, else Enter. */
async function submit(form, test, what) {
  const button = form.locator('button:not([type=button]):not([type=reset]), input[type=submit]');
  if ((await button.count()) > 0) {
    await clickTo(button, test, what);
  } else {
    await Promise.all([
      page.waitForURL((url) => test(url), { waitUntil: 'load' }),
      form.evaluate((f) => f.requestSubmit()),
    ]);
    await settle(`the page reached by ${what}`);
  }
}

/** Sets the form control `name` of `form` to `value`, whether a select or an input. */
async function setField(form, name, value) {
  const field = form.locator(`[name="${name}"]`).first();
  assert.ok((await field.count()) > 0, `no field ${name} in the form on ${here()}`);
  if ((await field.evaluate((e) => e.localName)) === 'select') {
    await field.selectOption(value);
  } else {
    await field.fill(value);
  }
}

/** Fetches `path` without navigating (a download); checks status and the spec's headers. */
async function fetchText(path) {
  const response = await page.request.get(new URL(path, base).href);
  assert.equal(response.status(), 200, `${path} answered ${response.status()}`);
  const headers = response.headers();
  assert.equal(headers['x-content-type-options'], 'nosniff', `${path}: no nosniff`);
  return { type: headers['content-type'] ?? '', disposition: headers['content-disposition'] ?? '', body: await response.text() };
}

/** JSON.parse of the preview's text, or undefined when it is not the whole document. */
function parsed(s) {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** A running run's page, which reloads itself when the run finishes. */
async function live() {
  const l = config.live;
  await visit('/runs');
  const row = rowOf('table#runs', 'a.run-link', l.run);
  assert.equal(await row.locator('span.status.status-running').count(), 1, `the run ${l.run} is marked status-running`);
  await clickTo(row.locator('a.run-link'), (url) => url.pathname.startsWith('/runs/'), 'the running run');
  assert.equal(await text('h1'), l.run);
  await present('body[data-run-status=running]');
  await holds('dl#run-summary', ['running']);
  await done('run-running', 'a running run');
  // Let the run finish; the page (static/app.js) must notice and reload.
  writeFileSync(l.release, '');
  await page.locator('body[data-run-status=completed]').waitFor({ state: 'attached', timeout: 120_000 });
  await page.waitForLoadState('load');
  await holds('dl#run-summary', ['completed']);
  const statuses = await page.locator('svg#dag a.dag-step').evaluateAll((as) => as.map((a) => a.getAttribute('data-status')));
  assert.deepEqual(statuses, ['completed', 'completed', 'completed', 'completed'], 'the reloaded DAG shows every step completed');
  await done('run-finished', 'the running run, reloaded by itself when it finished');
}

/** The full walk: pipelines → runs → a run's DAG → a step → an artifact → lineage → compare. */
async function walk() {
  const t = config.training;

  // `/` redirects to the pipelines.
  await visit('/');
  assert.equal(new URL(page.url()).pathname, '/pipelines', '/ leads to /pipelines');
  await checkNav();
  await present('table#pipelines');
  const training = rowOf('table#pipelines', 'a.pipeline-link', 'training');
  assert.equal(await training.count(), 1, 'one row of table#pipelines for `training`');
  assert.ok(
    (await training.locator('td').allTextContents()).map(squash).includes(String(t.count)),
    `the row of training says ${t.count} runs: ${squash(await training.textContent())}`,
  );
  assert.equal(await training.locator('span.status.status-failed').count(), 1, 'training: the latest run failed');
  await done('pipelines', 'the pipelines');

  // A pipeline: its runs and a metric chart.
  await clickTo(training.locator('a.pipeline-link'), atPath('/pipelines/training'), 'the pipeline link');
  await checkNav();
  assert.equal(await page.locator('table#runs tr.run-row').count(), t.count, 'the training runs');
  await present('select#metric');
  const mse = await metricOption('mse');
  const metricForm = page.locator('form').filter({ has: page.locator('select#metric') });
  await setField(metricForm, 'metric', mse);
  await submit(metricForm, (url) => url.searchParams.get('metric') === mse, 'the metric form');
  const chart = await page.locator('img#metric-chart').getAttribute('src');
  assert.equal(
    new URL(chart, base).href,
    new URL(`/pipelines/training/chart.svg?metric=${encodeURIComponent(mse)}&runs=200`, base).href,
    'img#metric-chart',
  );
  await imageLoads('img#metric-chart');
  await done('pipeline-training', 'a pipeline with its metric chart');

  // The runs: every run, filtered, paginated.
  await navTo('nav-runs', '/runs');
  assert.equal(await page.locator('table#runs tr.run-row').count(), config.run_count, 'every run in table#runs');
  const runs = await runLinks();
  for (const name of [t.first, t.cached, t.tuned, t.failed, ...config.xss.runs]) {
    assert.ok(runs.has(name), `table#runs lists the run ${JSON.stringify(name)}: ${JSON.stringify([...runs.keys()])}`);
  }
  await present('form#run-filter');
  await present('form#compare-form button#compare-button');
  assert.equal(
    await rowOf('table#runs', 'a.run-link', t.failed).locator('span.status.status-failed').count(),
    1,
    'the failed run is marked status-failed',
  );
  assert.equal(
    await rowOf('table#runs', 'a.run-link', t.first).locator('span.status.status-completed').count(),
    1,
    'the first run is marked status-completed',
  );
  await done('runs', 'the runs');

  const filter = page.locator('form#run-filter');
  await setField(filter, 'status', 'failed');
  await submit(filter, (url) => url.pathname === '/runs' && url.searchParams.get('status') === 'failed', 'the run filter');
  const failedRows = page.locator('table#runs tr.run-row');
  assert.equal(await failedRows.count(), 2, 'two failed runs');
  assert.equal(await page.locator('table#runs tr.run-row span.status.status-failed').count(), 2, 'both marked failed');
  await done('runs-failed', 'the runs filtered by status');

  await visit('/runs?per_page=2');
  assert.equal(await page.locator('table#runs tr.run-row').count(), 2, 'two runs a page');
  await clickTo(page.locator('nav.pagination a.next'), (url) => url.searchParams.get('page') === '2', 'a.next');
  assert.equal(await page.locator('table#runs tr.run-row').count(), 2, 'two runs on page 2');
  await present('nav.pagination a.prev');
  await done('runs-page-2', 'the second page of runs');
  await clickTo(page.locator('nav.pagination a.prev'), (url) => (url.searchParams.get('page') ?? '1') === '1' && url.pathname === '/runs', 'a.prev');

  // A cached run: its DAG, the cached steps linking the run they came from.
  await navTo('nav-runs', '/runs');
  const firstPath = new URL(runs.get(t.first), base).pathname;
  const cachedPath = new URL(runs.get(t.cached), base).pathname;
  await clickTo(rowOf('table#runs', 'a.run-link', t.cached).locator('a.run-link'), atPath(cachedPath), 'the cached run');
  await checkNav();
  assert.equal(await text('h1'), t.cached, 'the run page is titled by the run');
  await holds('dl#run-summary', ['training', 'completed']);
  assert.equal(await page.locator('svg#dag a.dag-step').count(), 4, 'four steps in svg#dag');
  assert.ok((await page.locator('svg#dag a.dag-artifact').count()) >= 4, 'the artifacts in svg#dag');
  assert.ok((await page.locator('body').textContent()).includes('cached'), 'the cached steps say "cached"');
  const cachedFrom = await page.locator('a.cached-from').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.ok(cachedFrom.length >= 1, 'a.cached-from links');
  for (const href of cachedFrom) {
    assert.equal(new URL(href, base).pathname, firstPath, `a.cached-from links the first run, not ${href}`);
  }
  await present('table#steps a.step-link');
  await holds('pre#stack', ['sqlite']);
  await holds('pre#config', ['learning_rate']);
  const download = await page.locator('a#config-download').getAttribute('href');
  assert.equal(new URL(download, base).pathname, `${cachedPath}/config.toml`, 'a#config-download');
  const toml = await fetchText(download);
  assert.ok(!toml.type.includes('html'), `config.toml is served as ${toml.type}`);
  assert.ok(toml.body.includes('learning_rate'), `config.toml holds the parameters: ${toml.body.slice(0, 300)}`);
  await done('run-cached', 'a cached run');

  await clickTo(page.locator('a.cached-from'), atPath(firstPath), 'a.cached-from');
  assert.equal(await text('h1'), t.first, 'a.cached-from leads to the first run');
  const statuses = await page.locator('svg#dag a.dag-step').evaluateAll((as) => as.map((a) => a.getAttribute('data-status')));
  assert.deepEqual(statuses, ['completed', 'completed', 'completed', 'completed'], 'the DAG nodes carry data-status');
  await done('run', 'a run with its DAG');
  if (config.readme_screenshot) {
    mkdirSync(dirname(config.readme_screenshot), { recursive: true });
    // The top of the page down to the end of the DAG.
    const dag = await page.locator('svg#dag').boundingBox();
    assert.ok(dag, 'svg#dag is on screen');
    const height = Math.ceil(dag.y + dag.height + 24);
    await page.screenshot({ path: config.readme_screenshot, fullPage: true, clip: { x: 0, y: 0, width: 1280, height } });
    console.log(`ok: the README screenshot -> ${config.readme_screenshot}`);
  }

  // A step of the DAG.
  const trainer = page.locator('svg#dag a.dag-step').filter({ hasText: 'trainer' });
  await clickTo(trainer, (url) => url.pathname.startsWith('/steps/'), 'the trainer node');
  const trainerPath = new URL(page.url()).pathname;
  assert.equal(await text('h1'), 'trainer', 'the step page is titled by the step');
  await holds('dl#step-summary', ['completed']);
  assert.equal(new URL(await page.locator('a#step-run').getAttribute('href'), base).pathname, firstPath, 'a#step-run');
  await holds('table#parameters', ['learning_rate', '0.5', 'epochs', '200']);
  await holds('table#metrics', ['final_slope']);
  await present('table#inputs a.artifact-link');
  await present('table#outputs a.artifact-link');
  await done('step', 'a step');

  // Its output: the model, previewed as JSON.
  await clickTo(page.locator('table#outputs a.artifact-link'), (url) => /^\/artifacts\/[^/]+$/.test(url.pathname), 'the output');
  const modelPath = new URL(page.url()).pathname;
  await holds('dl#artifact-summary', ['zenml.json']);
  assert.equal(new URL(await page.locator('a#producer').getAttribute('href'), base).pathname, trainerPath, 'a#producer');
  await holds('table#consumers', ['evaluate']);
  const model = parsed(await text('section#preview pre.preview-json'));
  assert.ok(model && model.epochs === 200 && 'slope' in model && 'intercept' in model, `the model's preview: ${JSON.stringify(model)}`);
  await done('artifact', 'an artifact with its preview');

  // Its lineage, up and down; a node leads on.
  await clickTo(page.locator('a#lineage-link'), atPath(`${modelPath}/lineage`), 'a#lineage-link');
  await present('form#lineage-depth');
  const lineage = await page.locator('svg#lineage a.dag-step').allTextContents();
  for (const step of ['trainer', 'evaluate']) {
    assert.ok(lineage.some((s) => s.includes(step)), `svg#lineage shows ${step}: ${JSON.stringify(lineage)}`);
  }
  await present('svg#lineage a.dag-artifact');
  await done('lineage', 'the lineage of an artifact');
  await clickTo(page.locator('svg#lineage a.dag-step').filter({ hasText: 'evaluate' }), (url) => url.pathname.startsWith('/steps/'), 'the evaluate node');
  assert.equal(await text('h1'), 'evaluate');
  await holds('table#metrics', ['mse']);
  await done('step-evaluate', 'a step reached from the lineage');

  // Two runs side by side.
  await navTo('nav-runs', '/runs');
  const firstId = firstPath.split('/').pop();
  const tunedId = new URL(runs.get(t.tuned), base).pathname.split('/').pop();
  for (const name of [t.first, t.tuned]) {
    await rowOf('table#runs', 'a.run-link', name).locator('input.compare-pick[name=runs]').check();
  }
  await clickTo(page.locator('button#compare-button'), (url) => url.pathname === '/compare', 'button#compare-button');
  const picked = new URL(page.url()).searchParams.getAll('runs');
  assert.deepEqual([...picked].sort(), [firstId, tunedId].sort(), `the compared runs: ${page.url()}`);
  const differs = await page.locator('table#compare-parameters tr.differs').allTextContents();
  assert.ok(differs.some((row) => row.includes('learning_rate')), `learning_rate differs: ${JSON.stringify(differs.map(squash))}`);
  await holds('table#compare-metrics', ['mse']);
  await done('compare', 'two runs compared');

  await navTo('nav-compare', '/compare');
  await done('compare-picker', 'the run picker of the comparison');

  // A failed run and its failed step.
  await navTo('nav-runs', '/runs');
  await clickTo(rowOf('table#runs', 'a.run-link', t.failed).locator('a.run-link'), (url) => url.pathname.startsWith('/runs/'), 'the failed run');
  assert.equal(await text('h1'), t.failed);
  await holds('dl#run-summary', ['failed']);
  const split = page.locator('svg#dag a.dag-step[data-status=failed]').filter({ hasText: 'split' });
  assert.equal(await split.count(), 1, 'the failed split node');
  await done('run-failed', 'a failed run');
  await clickTo(split, (url) => url.pathname.startsWith('/steps/'), 'the failed step');
  await holds('pre#step-error', ['test_every must be at least 2, got 1']);
  await done('step-failed', 'a failed step');

  // Artifacts, stacks and flavors.
  await navTo('nav-artifacts', '/artifacts');
  await checkNav();
  await done('artifacts', 'the artifacts');
  await navTo('nav-stacks', '/stacks');
  await holds('table#stacks', ['default', 'sqlite', 'local']);
  await done('stacks', 'the stacks');
  await navTo('nav-flavors', '/flavors');
  await holds('table#flavors', ['sqlite', 'mysql', 'local']);
  await done('flavors', 'the flavors');
}

/** A table artifact: its name, version and tags, its schema and statistics. */
async function described() {
  const iris = config.iris;
  await navTo('nav-runs', '/runs');
  await clickTo(rowOf('table#runs', 'a.run-link', iris.run).locator('a.run-link'), (url) => url.pathname.startsWith('/runs/'), 'the iris run');
  await clickTo(page.locator('svg#dag a.dag-step').filter({ hasText: 'load' }), (url) => url.pathname.startsWith('/steps/'), 'the load node');
  await clickTo(page.locator('table#outputs a.artifact-link'), (url) => /^\/artifacts\/[^/]+$/.test(url.pathname), 'the table output');
  await holds('dl#artifact-summary', ['zenml.parquet', iris.dataset, ...iris.tags]);
  await holds('table#schema', ['sepal_length', 'petal_width']);
  await holds('table#statistics', ['sepal_length', 'petal_width']);
  await done('artifact-table', 'a table artifact with its schema and statistics');
}

/** Every page that shows the XSS probe's text: it shows as typed, and nothing runs. */
async function xss() {
  const x = config.xss;

  // The probe's pipeline: its metric keys are text too, also in the chart.
  await navTo('nav-pipelines', '/pipelines');
  await clickTo(rowOf('table#pipelines', 'a.pipeline-link', x.pipeline).locator('a.pipeline-link'), atPath(`/pipelines/${x.pipeline}`), 'the probe pipeline');
  const metric = await metricOption(x.metric);
  await done('xss-pipeline', 'the probe pipeline');
  const chart = `/pipelines/${x.pipeline}/chart.svg?metric=${encodeURIComponent(metric)}`;
  const svg = await visit(chart);
  assert.ok((svg.headers()['content-type'] ?? '').startsWith('image/svg+xml'), `chart.svg is ${svg.headers()['content-type']}`);
  await done('xss-chart', 'a chart of the probe opened as a document');

  // Its runs: the names as typed.
  await visit('/runs');
  const runs = await runLinks();
  for (const name of x.runs) {
    assert.ok(runs.has(name), `the run name shows as typed: ${JSON.stringify(name)} among ${JSON.stringify([...runs.keys()])}`);
  }
  const [completed, failed] = x.runs;
  const runPath = new URL(runs.get(completed), base).pathname;
  await clickTo(rowOf('table#runs', 'a.run-link', completed).locator('a.run-link'), atPath(runPath), 'the probe run');
  assert.equal(await text('h1'), completed, 'the h1 holds the run name as typed');
  await holds('pre#config', ['><svg onload=']);
  await done('xss-run', 'the probe run');

  // The step with the parameters, the metadata and the logs.
  await clickTo(page.locator('svg#dag a.dag-step').filter({ hasText: 'scribble' }), (url) => url.pathname.startsWith('/steps/'), 'the scribble node');
  await holds('table#parameters', [x.note, x.label]);
  const body = squash(await page.locator('body').textContent());
  for (const part of [x.metadata_key, x.metadata_value]) {
    assert.ok(shows(body, part), `the step page shows the metadata ${JSON.stringify(part)} as text`);
  }
  await holds('pre#logs', [x.log_line]);
  await done('xss-step', 'the probe step with parameters, metadata and logs');

  await clickTo(page.locator('table#outputs a.artifact-link'), (url) => /^\/artifacts\/[^/]+$/.test(url.pathname), 'the text output');
  assert.equal(parsed(await text('section#preview pre.preview-json')), x.text, 'the JSON preview of a string shows it as typed');
  await done('xss-artifact-text', 'the probe text artifact');

  await visit(runPath);
  await clickTo(page.locator('svg#dag a.dag-step').filter({ hasText: 'tabulate' }), (url) => url.pathname.startsWith('/steps/'), 'the tabulate node');
  const outputs = await page.locator('table#outputs a.artifact-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.equal(outputs.length, 5, 'tabulate has five outputs');
  const seen = new Set();
  for (const href of outputs) {
    await visit(href);
    const kind = await page
      .locator('section#preview')
      .locator('pre.preview-json, pre.preview-text, pre.preview-hex, table.preview-table, img.preview-image')
      .first()
      .evaluate((e) => e.className.match(/preview-(\w+)/)[1]);
    seen.add(kind);
    if (kind === 'json') {
      assert.deepEqual(parsed(await text('section#preview pre.preview-json')), x.table, 'the JSON preview of the map shows it as typed');
      await done('xss-artifact-json', 'the probe JSON artifact');
      await clickTo(page.locator('a#lineage-link'), (url) => url.pathname.endsWith('/lineage'), 'a#lineage-link');
      await done('xss-lineage', 'the lineage of the probe artifact');
    } else if (kind === 'text') {
      assert.equal(await page.locator('section#preview pre.preview-text').textContent(), x.raw, 'the text preview shows the bytes as typed');
      await done('xss-artifact-text-bytes', 'the probe bytes that are text');
    } else if (kind === 'hex') {
      const hex = (await text('section#preview pre.preview-hex')).replace(/[^0-9a-f]/gi, '').toLowerCase();
      assert.ok(hex.includes(x.binary_hex.slice(0, 32)), `the hex preview shows the bytes: ${hex.slice(0, 80)}`);
      await done('xss-artifact-hex', 'the probe bytes in hex');
    } else if (kind === 'table') {
      const heads = (await page.locator('table.preview-table th').allTextContents()).map(squash);
      const cells = (await page.locator('table.preview-table td').allTextContents()).map(squash);
      for (const record of x.records) {
        for (const [key, value] of Object.entries(record)) {
          assert.ok(heads.includes(squash(key)), `the table preview has the column ${JSON.stringify(key)}: ${JSON.stringify(heads)}`);
          assert.ok(cells.includes(squash(value)), `the table preview has the cell ${JSON.stringify(value)}: ${JSON.stringify(cells)}`);
        }
      }
      await done('xss-artifact-table', 'the probe records as a table');
    } else {
      await imageLoads('section#preview img.preview-image');
      await done('xss-artifact-image', 'an image artifact');
    }
  }
  assert.deepEqual([...seen].sort(), ['hex', 'image', 'json', 'table', 'text'], 'every kind of preview');

  // The failed probe run: its error as typed.
  await visit('/runs');
  await clickTo(rowOf('table#runs', 'a.run-link', failed).locator('a.run-link'), (url) => url.pathname.startsWith('/runs/'), 'the failed probe run');
  assert.equal(await text('h1'), failed);
  const failedPath = new URL(page.url()).pathname;
  await done('xss-run-failed', 'the failed probe run');
  await clickTo(page.locator('svg#dag a.dag-step').filter({ hasText: 'verdict' }), (url) => url.pathname.startsWith('/steps/'), 'the verdict node');
  await holds('pre#step-error', [x.error]);
  await done('xss-step-failed', 'the failed probe step');

  // Both probe runs side by side.
  await visit('/runs');
  for (const name of x.runs) {
    await rowOf('table#runs', 'a.run-link', name).locator('input.compare-pick[name=runs]').check();
  }
  await clickTo(page.locator('button#compare-button'), (url) => url.pathname === '/compare', 'button#compare-button');
  const differs = squash((await page.locator('table#compare-parameters tr.differs').allTextContents()).join(' '));
  assert.ok(shows(differs, x.label), `the differing label shows as typed: ${differs.slice(0, 400)}`);
  await done('xss-compare', 'the probe runs compared');

  // The API and the configuration download: data, never a page.
  const runId = runPath.split('/').pop();
  const api = await visit(`/api/v1/runs/${runId}`);
  assert.ok((api.headers()['content-type'] ?? '').startsWith('application/json'), `the API answers ${api.headers()['content-type']}`);
  await done('xss-api', 'the probe run in the API');
  const toml = await fetchText(`${failedPath}/config.toml`);
  assert.ok(!toml.type.includes('html'), `config.toml is served as ${toml.type}`);
  assert.ok(toml.body.includes('verdict'), 'config.toml holds the steps');
}

/** The MySQL repository: its one run on the pipelines and runs pages and its DAG. */
async function runsOnly() {
  const name = config.mysql_run;
  await visit('/');
  await checkNav();
  assert.equal(await rowOf('table#pipelines', 'a.pipeline-link', 'training').count(), 1, 'the training pipeline');
  await done('pipelines', 'the pipelines on MySQL');
  await navTo('nav-runs', '/runs');
  assert.equal(await page.locator('table#runs tr.run-row').count(), 1, 'one run');
  const row = rowOf('table#runs', 'a.run-link', name);
  assert.equal(await row.locator('span.status.status-completed').count(), 1, 'the run completed');
  await done('runs', 'the runs on MySQL');
  await clickTo(row.locator('a.run-link'), (url) => url.pathname.startsWith('/runs/'), 'the run');
  assert.equal(await text('h1'), name);
  const statuses = await page.locator('svg#dag a.dag-step').evaluateAll((as) => as.map((a) => a.getAttribute('data-status')));
  assert.deepEqual(statuses, ['completed', 'completed', 'completed', 'completed'], 'four completed steps');
  await holds('pre#stack', ['mysql']);
  await done('run', 'a run on MySQL');
  await navTo('nav-stacks', '/stacks');
  await holds('table#stacks', ['mysql']);
  await done('stacks', 'the stacks on MySQL');
}
