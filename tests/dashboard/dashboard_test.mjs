// Browser test of the admin dashboard: starts a real daemon (the streamgate binary, a generated
// config with two demo origins as regions and backends, a CDN section and a backup plan on a
// temp dir), drives traffic through the proxy, opens the page in headless Chromium through
// playwright-core and checks what it shows. A second daemon without CDN and disaster recovery,
// whose admin token guards reads, checks "not configured" and the token prompt.
//
//   node dashboard_test.mjs STREAMGATE_BINARY SCREENSHOT.png
//
// CHROMIUM overrides the browser (default /usr/bin/chromium, Debian's package). Exits 0 when
// every check passed; prints "N passed, N failed".
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const [binary, screenshot] = process.argv.slice(2);
if (!binary || !screenshot) {
  console.error('usage: node dashboard_test.mjs STREAMGATE_BINARY SCREENSHOT.png');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const started = Date.now();
const children = [];
let passed = 0;
let failed = 0;

function check(ok, what) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}`);
  }
  return ok;
}

function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts a process; `output` collects stdout and stderr, `exited` settles when it ends.
function start(args, name) {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, name, output: '' };
  const collect = (chunk) => { proc.output += chunk.toString(); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  proc.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  children.push(proc);
  return proc;
}

async function stop(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timeout = sleep(5000).then(() => 'timeout');
  if ((await Promise.race([proc.exited, timeout])) === 'timeout') proc.child.kill('SIGKILL');
}

async function waitFor(what, fn, timeoutMs = 15000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// The port the daemon logged for `pattern` (admin API or a proxy listener).
async function loggedPort(proc, pattern) {
  return waitFor(`${proc.name} to log ${pattern}`, () => {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${proc.output}`);
    const match = proc.output.match(pattern);
    return match ? Number(match[1]) : null;
  }, 10000, 50);
}

async function json(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => null);
  return { status: response.status, body };
}

async function startOrigins(tmp) {
  const ports = [await freePort(), await freePort()];
  const origins = ports.map((port, i) => start(
    ['--log-level', 'warn', 'origin', '--listen', `127.0.0.1:${port}`, '--id', `origin-${i + 1}`],
    `origin-${i + 1}`));
  for (const port of ports) {
    await waitFor(`origin on ${port}`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
  }
  return { ports, origins };
}

function writeConfig(tmp, name, ports, { cdn, dr, token }) {
  const site = path.join(tmp, 'site');
  fs.mkdirSync(path.join(site, 'media'), { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), '<h1>dashboard test</h1>\n');
  fs.writeFileSync(path.join(site, 'media', 'clip.bin'), Buffer.alloc(200000, 7));
  const lines = [
    'admin:',
    '  listen: 127.0.0.1:0',
    ...(token ? [`  token: ${token}`, '  protect_reads: true'] : []),
    'health_check: { interval: 1s, timeout: 1s, rise: 1, fall: 2 }',
    'regions:',
    `  - { id: us-east-1, name: US East, location: Virginia, endpoint: "http://127.0.0.1:${ports[0]}", priority: 1, primary: true }`,
    `  - { id: eu-west-1, name: EU West, location: Ireland, endpoint: "http://127.0.0.1:${ports[1]}", priority: 2 }`,
    'listeners: [ { name: public, listen: "127.0.0.1:0" } ]',
    'backends:',
    `  - { id: web-us-1, address: 127.0.0.1, port: ${ports[0]}, region: us-east-1 }`,
    `  - { id: web-eu-1, address: 127.0.0.1, port: ${ports[1]}, region: eu-west-1 }`,
  ];
  if (cdn) {
    lines.push('cdn: { enabled: true, max_cache_size: 16MiB, default_ttl: 5m, paths: [/bytes/] }');
  }
  if (dr) {
    lines.push(
      'disaster_recovery:',
      `  scratch_directory: ${path.join(tmp, 'scratch')}`,
      '  plans:',
      `    - { id: site, name: Test site, strategy: incremental, interval: 1h, rpo: 1h, rto: 30m, primary_region: us-east-1, sources: ["${site}"], repository: "${path.join(tmp, 'backups', 'site')}" }`);
    fs.mkdirSync(path.join(tmp, 'scratch'), { recursive: true });
  }
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function startDaemon(config, name) {
  const daemon = start(['serve', '--config', config], name);
  const admin = await loggedPort(daemon, /admin API on [^\s]+:(\d+)/);
  const proxy = await loggedPort(daemon, /proxy listener 'public' on [^\s]+:(\d+)/);
  return { daemon, admin: `http://127.0.0.1:${admin}`, proxy: `http://127.0.0.1:${proxy}` };
}

// Requests through the proxy: `cached` times a cacheable object (one miss, then hits) and
// `plain` times the uncached /id.
async function traffic(proxy, cached, plain) {
  for (let i = 0; i < cached; i += 1) await (await fetch(`${proxy}/bytes/65536`)).arrayBuffer();
  for (let i = 0; i < plain; i += 1) await (await fetch(`${proxy}/id`)).text();
}

async function newestSample(admin, headers = {}) {
  const { body } = await json(`${admin}/api/v1/dashboard/history`, { headers });
  return body.samples[body.samples.length - 1];
}

// Waits for a history sample taken after now that saw backend traffic.
async function waitForSampleWithTraffic(admin) {
  const before = (await newestSample(admin)).time;
  return waitFor('a history sample with backend traffic', async () => {
    const sample = await newestSample(admin);
    if (sample.time === before) return null;
    return Object.values(sample.backends).some((b) => b.requests_per_second > 0) ? sample : null;
  }, 12000, 250);
}

async function openPage(browser, url, problems) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const origin = new URL(url).origin;
  // Failed responses are checked by URL below; the console's "Failed to load resource" lines
  // only repeat them.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      problems.push(`HTTP ${response.status()} ${new URL(response.url()).pathname}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!request.url().startsWith(origin)) problems.push(`request elsewhere: ${request.url()}`);
  });
  return page;
}

async function fullRun(browser, tmp, ports) {
  const config = writeConfig(tmp, 'full', ports, { cdn: true, dr: true });
  const { daemon, admin, proxy } = await startDaemon(config, 'daemon-full');
  log(`daemon: admin ${admin}, proxy ${proxy}`);
  await waitFor('both regions healthy', async () => {
    const { body } = await json(`${admin}/api/v1/regions`);
    return body.every((r) => r.health_status === 'healthy');
  });
  // The scheduler backs the plan up on start; wait for that point, then test it.
  const points = await waitFor('a recovery point', async () => {
    const { body } = await json(`${admin}/api/v1/dr/plans/site/recovery-points`);
    return body.length > 0 ? body : null;
  }, 20000, 200);
  const test = await json(`${admin}/api/v1/dr/plans/site/test`, { method: 'POST' });
  check(test.status === 200 && test.body.passed === true, `recovery test passed via the API (${test.status})`);

  // Two bursts of traffic in two history intervals, so the charts have a shape.
  await traffic(proxy, 20, 10);
  await waitForSampleWithTraffic(admin);
  await traffic(proxy, 40, 30);
  const sample = await waitForSampleWithTraffic(admin);
  log(`history: web-us-1 ${sample.backends['web-us-1'].requests_per_second} req/s, cdn hit rate ${sample.cdn.hit_rate}`);

  // The page shows the newest sample's rates; traffic keeps flowing while it is read, so a
  // sample taken after the burst above cannot show zero.
  let pumping = true;
  const pump = (async () => {
    while (pumping) await (await fetch(`${proxy}/id`)).text();
  })();

  const problems = [];
  const page = await openPage(browser, admin, problems);
  await page.goto(`${admin}/`);
  await page.waitForSelector('body[data-state="live"]', { timeout: 10000 });
  // The second poll draws with the layout settled.
  await page.waitForFunction(() => Number(document.body.dataset.polls) >= 2, null, { timeout: 10000 });

  const usEast = page.locator('#regions tr[data-region="us-east-1"]');
  const euWest = page.locator('#regions tr[data-region="eu-west-1"]');
  check((await usEast.innerText()).includes('US East'), 'region us-east-1 shows its name');
  check((await usEast.locator('.badge.primary').count()) === 1, 'us-east-1 is marked primary');
  check((await euWest.locator('.badge.primary').count()) === 0, 'eu-west-1 is not marked primary');
  check((await usEast.locator('.status').innerText()).includes('healthy'), 'us-east-1 shows healthy');
  check(/\d+(\.\d+)? ms/.test(await usEast.locator('.latency').innerText()), 'us-east-1 shows a latency');

  const backendRows = page.locator('#backends tr[data-backend]');
  check((await backendRows.count()) === 2, 'two backend rows');
  const rps = await page.locator('#backends tr[data-backend] td.rps').allInnerTexts();
  check(rps.some((text) => Number(text) > 0), `a backend shows a request rate > 0 (${rps.join(', ')})`);
  pumping = false;
  await pump;
  const requests = await page.locator('#backends tr[data-backend] td.requests').allInnerTexts();
  const totalRequests = requests.reduce((sum, text) => sum + Number(text.replace(/,/g, '')), 0);
  check(totalRequests >= 40, `backends show the requests served (${totalRequests})`);
  check((await page.locator('#lb-summary').innerText()).includes('round robin'), 'the strategy is shown');

  const hitRate = await page.locator('#cache-hit-rate').getAttribute('data-value');
  const hitText = await page.locator('#cache-hit-rate .stat-value').innerText();
  check(Number(hitRate) > 0.9, `cache hit rate > 0 after cached requests (${hitText})`);
  check((await page.locator('#chart-hit-rate path.line').count()) === 1, 'hit-rate chart drawn');
  check((await page.locator('#chart-bandwidth path.line').count()) === 2, 'bandwidth chart drawn');
  check(await page.locator('#chart-hit-rate path.line').getAttribute('d').then((d) => d.includes('L')),
    'hit-rate chart has a line through several samples');

  const plan = page.locator('#dr .plan[data-plan="site"]');
  const drawn = await plan.locator('circle.point').count();
  check(drawn === points.length && drawn >= 1, `recovery points on the timeline (${drawn})`);
  check((await plan.locator(`circle[data-point="${points[0].id}"]`).count()) === 1, 'the backup\'s point is drawn');
  check((await plan.locator('.last-test').getAttribute('data-result')) === 'passed', 'last test shown as passed');
  const testText = await plan.locator('.last-test').innerText();
  check(/RTO 30 min/.test(testText) && /RPO 1 h/.test(testText), `last test against RPO and RTO (${testText.replace(/\s+/g, ' ')})`);
  check(problems.length === 0, `no errors, no failed or foreign requests ${JSON.stringify(problems)}`);

  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  log(`screenshot: ${screenshot}`);

  // The daemon goes away: the page says so and keeps polling.
  await stop(daemon);
  await page.waitForSelector('body[data-state="unreachable"]', { timeout: 8000 }).catch(() => {});
  check((await page.locator('body').getAttribute('data-state')) === 'unreachable', 'unreachable daemon is shown');
  check((await page.locator('#banner').innerText()).includes('Cannot reach'), 'banner explains it');
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-unreachable.png') });
  await page.close();
}

async function minimalRun(browser, tmp, ports) {
  const token = 'dashboard-test-token';
  const config = writeConfig(tmp, 'minimal', ports, { cdn: false, dr: false, token });
  const { daemon, admin } = await startDaemon(config, 'daemon-minimal');
  log(`daemon (no cdn, no dr, protect_reads): admin ${admin}`);
  const problems = [];
  const page = await openPage(browser, admin, problems);
  await page.goto(`${admin}/`);
  await page.waitForSelector('#token-form:not([hidden])', { timeout: 10000 });
  check((await page.locator('body').getAttribute('data-state')) === 'auth', 'asks for the token when reads are guarded');
  await page.fill('#token-input', token);
  await page.click('#token-form button[type="submit"]');
  await page.waitForSelector('body[data-state="live"]', { timeout: 10000 });
  check((await page.locator('#regions tr[data-region]').count()) === 2, 'regions shown once the token is given');
  check((await page.locator('#cache .not-configured').innerText()).includes('Not configured'), 'cache: not configured');
  check((await page.locator('#dr .not-configured').innerText()).includes('Not configured'), 'disaster recovery: not configured');
  check((await page.locator('#backends tr[data-backend]').count()) === 2, 'backends still shown');
  const stored = await page.evaluate(() => [sessionStorage.getItem('streamgate.admin_token'), localStorage.length]);
  check(stored[0] === token && stored[1] === 0, 'token kept in sessionStorage only');
  // Expected: 401 before the token was given, 404 from the parts not configured.
  const unexpected = problems.filter((p) => !/^HTTP 401 \/api\/v1\//.test(p) &&
    !/^HTTP 404 \/api\/v1\/(cdn|dr)\//.test(p));
  check(problems.some((p) => p.startsWith('HTTP 401')), 'the API refused reads without the token');
  check(unexpected.length === 0, `no unexpected errors ${JSON.stringify(unexpected)}`);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-minimal.png'), fullPage: true });
  await page.close();
  await stop(daemon);
}

async function main() {
  if (!fs.existsSync(chromiumPath)) {
    console.error(`${chromiumPath} not found: install Debian's chromium (scripts/bootstrap) or set CHROMIUM`);
    process.exit(1);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'streamgate-dashboard-'));
  let browser;
  try {
    const { ports } = await startOrigins(tmp);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Root in containers: Chromium's sandbox needs user namespaces it may not have.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    await fullRun(browser, tmp, ports);
    await minimalRun(browser, tmp, ports);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${e.stack || e}`);
    for (const proc of children) {
      if (proc.name.startsWith('daemon')) console.log(`--- ${proc.name} output:\n${proc.output.slice(-4000)}`);
    }
  } finally {
    if (browser) await browser.close();
    await Promise.all(children.map(stop));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log('done');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

await main();
