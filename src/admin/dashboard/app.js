// StreamGate dashboard: polls the admin API every 2 s and draws regions, backends, the edge
// cache and disaster recovery. Plain JS, no dependencies; charts are inline SVG. Rates and
// charts come from the server's history (/api/v1/dashboard/history), so a freshly opened page
// shows the last minutes.
'use strict';

(() => {
  const POLL_MS = 2000;
  const TOKEN_KEY = 'streamgate.admin_token';
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    lastSuccess: null, // Date of the last complete poll
    unreachableSince: null,
    polls: 0,
    timer: null,
    generation: 0, // bumped by restart(), so only one polling loop runs
  };

  class AuthError extends Error {}
  class UnreachableError extends Error {}

  // --- DOM helpers -----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('data-')) node.setAttribute(key, String(value));
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'text') node.textContent = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) if (child) node.append(child);
    return node;
  }

  function content(sectionId) {
    return document.querySelector(`#${sectionId} .content`);
  }

  function notConfigured(sectionId, hint) {
    const box = content(sectionId);
    box.replaceChildren(
      el('p', { class: 'not-configured' }, el('strong', { text: 'Not configured.' }), ' ', hint));
    document.getElementById(sectionId).dataset.configured = 'false';
  }

  // --- Formatting --------------------------------------------------------------------------

  const fmt = {
    pct(x) { return x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`; },
    num(x, digits = 1) {
      if (x === null || x === undefined) return '–';
      if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en');
      return x.toFixed(digits);
    },
    bytes(x) {
      if (x === null || x === undefined) return '–';
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      while (Math.abs(x) >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
      return `${i === 0 || Math.abs(x) >= 100 ? Math.round(x) : x.toFixed(1)} ${units[i]}`;
    },
    rate(x) { return x === null || x === undefined ? '–' : `${fmt.bytes(x)}/s`; },
    ms(x) {
      if (x === null || x === undefined) return '–';
      if (x < 1) return `${x.toFixed(2)} ms`;
      if (x < 1000) return `${x.toFixed(x < 10 ? 1 : 0)} ms`;
      return `${(x / 1000).toFixed(x < 10000 ? 2 : 1)} s`;
    },
    minutes(m) {
      if (m === null || m === undefined) return '–';
      if (m < 60) return `${m} min`;
      const h = Math.floor(m / 60);
      return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    },
    age(seconds) {
      if (seconds === null || seconds === undefined) return '–';
      if (seconds < 60) return `${Math.round(seconds)} s`;
      if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
      if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
      return `${(seconds / 86400).toFixed(1)} d`;
    },
    time(date) { return date.toLocaleTimeString('en-GB', { hour12: false }); },
    dateTime(date) {
      return `${date.toLocaleDateString('en-CA')} ${date.toLocaleTimeString('en-GB', { hour12: false })}`;
    },
  };

  // --- Admin API -----------------------------------------------------------------------------

  // {status, body}; throws AuthError on 401 and UnreachableError when the daemon cannot be
  // reached at all.
  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new UnreachableError(e.message);
    }
    if (response.status === 401) throw new AuthError('unauthenticated');
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, body };
  }

  // null when the route answers 404 (the part is not configured); throws on other errors.
  async function optional(path) {
    const r = await api(path);
    if (r.status === 404) return null;
    if (r.status !== 200) {
      throw new Error(`${path}: HTTP ${r.status} ${(r.body && r.body.error) || ''}`);
    }
    return r.body;
  }

  async function required(path) {
    const r = await api(path);
    if (r.status !== 200) {
      throw new Error(`${path}: HTTP ${r.status} ${(r.body && r.body.error) || ''}`);
    }
    return r.body;
  }

  // --- Charts --------------------------------------------------------------------------------

  // A line chart of series [{label, cls, fill, points: [[Date, value|null]...]}] in `holder`;
  // `cls` picks the colour (style.css: series-a, -b, -c).
  function lineChart(holder, series, options) {
    const width = Math.max(holder.clientWidth || 0, 280);
    const height = options.height || 150;
    const pad = { left: 76, right: 12, top: 10, bottom: 22 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const times = series.flatMap((s) => s.points.map((p) => p[0].getTime()));
    const root = svg('svg', {
      width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img',
      'aria-label': options.label,
    });
    if (times.length === 0) {
      root.append(svg('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle', text: 'collecting samples…' }));
      holder.replaceChildren(root);
      return;
    }
    const t1 = Math.max(...times);
    const t0 = Math.min(Math.min(...times), t1 - 60000);
    const values = series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
    let yMax = options.yMax !== undefined ? options.yMax : Math.max(0, ...values);
    if (!(yMax > 0)) yMax = 1;
    if (options.yMax === undefined) yMax *= 1.15;
    const x = (t) => pad.left + ((t - t0) / (t1 - t0 || 1)) * plotW;
    const y = (v) => pad.top + plotH - (v / yMax) * plotH;

    // Grid: 4 horizontal lines with labels, time ticks at the ends and middle.
    for (let i = 0; i <= 4; i += 1) {
      const v = (yMax * i) / 4;
      root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }));
      root.append(svg('text', { x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis', text: options.format(v) }));
    }
    for (const t of [t0, (t0 + t1) / 2, t1]) {
      const anchor = t === t0 ? 'start' : t === t1 ? 'end' : 'middle';
      root.append(svg('text', { x: x(t), y: height - 6, 'text-anchor': anchor, class: 'axis', text: fmt.time(new Date(t)) }));
    }
    for (const s of series) {
      let d = '';
      let pen = false;
      for (const [date, v] of s.points) {
        if (v === null || v === undefined) { pen = false; continue; }
        d += `${pen ? 'L' : 'M'}${x(date.getTime()).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      }
      if (s.fill && d) {
        root.append(svg('path', { d: areaPath(s.points, x, y, y(0)), class: `area ${s.cls}` }));
      }
      root.append(svg('path', { d, class: `line ${s.cls}`, 'data-series': s.label }));
      const last = [...s.points].reverse().find((p) => p[1] !== null && p[1] !== undefined);
      if (last) root.append(svg('circle', { cx: x(last[0].getTime()), cy: y(last[1]), r: 3, class: `end ${s.cls}` }));
    }
    holder.replaceChildren(root);
    if (series.length > 1) {
      holder.append(el('div', { class: 'legend' }, series.map((s) => el('span', {},
        el('i', { class: `swatch ${s.cls}` }), s.label))));
    }
  }

  // The area under each contiguous run of points.
  function areaPath(points, x, y, base) {
    let d = '';
    let run = [];
    const flush = () => {
      if (run.length > 0) {
        d += `M${x(run[0][0].getTime()).toFixed(1)},${base.toFixed(1)}`;
        for (const [date, v] of run) d += `L${x(date.getTime()).toFixed(1)},${y(v).toFixed(1)}`;
        d += `L${x(run[run.length - 1][0].getTime()).toFixed(1)},${base.toFixed(1)}Z`;
      }
      run = [];
    };
    for (const p of points) {
      if (p[1] === null || p[1] === undefined) flush(); else run.push(p);
    }
    flush();
    return d;
  }

  // A small latency sparkline for a table cell.
  function sparkline(values) {
    const width = 80;
    const height = 20;
    const clean = values.filter((v) => v !== null && v !== undefined);
    const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', 'aria-hidden': 'true' });
    if (clean.length < 2) return root;
    const max = Math.max(...clean) || 1;
    let d = '';
    values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const px = (i / (values.length - 1)) * (width - 2) + 1;
      const py = height - 2 - (v / max) * (height - 4);
      d += `${d ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`;
    });
    root.append(svg('path', { d, class: 'spark-line' }));
    return root;
  }

  // --- Sections ------------------------------------------------------------------------------

  function statusCell(status) {
    return el('span', { class: `status status-${status}` }, el('i', { class: 'dot' }), status);
  }

  function renderRegions(regions, history) {
    const box = content('regions');
    document.getElementById('regions').dataset.configured = 'true';
    if (regions.length === 0) {
      box.replaceChildren(el('p', { class: 'not-configured' }, el('strong', { text: 'No regions.' }),
        ' Add some under regions: in the config, or POST /api/v1/regions.'));
      return;
    }
    const samples = history ? history.samples.slice(-36) : [];
    const rows = regions.map((r) => el('tr', { 'data-region': r.id, class: r.active ? '' : 'inactive' },
      el('td', {}, el('div', { class: 'name', text: r.name || r.id }), el('div', { class: 'muted small', text: r.id })),
      el('td', { text: r.location || '–' }),
      el('td', {}, statusCell(r.health_status)),
      el('td', { class: 'num latency' }, fmt.ms(r.avg_latency_ms)),
      el('td', {}, sparkline(samples.map((s) => (s.regions[r.id] ? s.regions[r.id].latency_ms : null)))),
      el('td', {},
        r.primary ? el('span', { class: 'badge primary', text: 'primary' }) : null,
        r.active ? null : el('span', { class: 'badge off', text: 'inactive' }))));
    box.replaceChildren(el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Region', 'Location', 'Status', 'Latency', 'Trend', ''].map(
        (h, i) => el('th', { class: i === 3 ? 'num' : '', text: h })))),
      el('tbody', {}, rows))));
  }

  function renderBackends(backends, strategy, stats, history) {
    if (backends === null) {
      document.getElementById('lb-summary').textContent = '';
      notConfigured('backends', 'Add backends: and listeners: to the config to run the proxy.');
      return;
    }
    document.getElementById('backends').dataset.configured = 'true';
    const summary = [];
    if (strategy) summary.push(strategy.strategy.replace(/_/g, ' '));
    if (stats) summary.push(`${stats.available_backends}/${stats.backends} available${stats.panic ? ' · PANIC' : ''}`);
    document.getElementById('lb-summary').textContent = summary.join(' · ');
    const box = content('backends');
    if (backends.length === 0) {
      box.replaceChildren(el('p', { class: 'not-configured' }, el('strong', { text: 'No backends.' })));
      return;
    }
    // Rates over the newest history interval that has them.
    let rates = {};
    if (history) {
      for (let i = history.samples.length - 1; i >= 0; i -= 1) {
        const b = history.samples[i].backends;
        if (b && Object.values(b).some((v) => v.requests_per_second !== null)) { rates = b; break; }
      }
    }
    const rows = backends.map((b) => {
      const rate = rates[b.id] || {};
      const rps = rate.requests_per_second;
      const eps = rate.errors_per_second;
      const errorShare = rps > 0 && eps > 0 ? eps / rps : null;
      const state = !b.active ? 'inactive' : b.ejected ? 'ejected' : '';
      return el('tr', { 'data-backend': b.id, class: b.active ? '' : 'inactive' },
        el('td', {}, el('div', { class: 'name', text: b.id }), el('div', { class: 'muted small', text: `${b.address}:${b.port}` })),
        el('td', { text: b.region || '–' }),
        el('td', {}, statusCell(b.health_status), state ? el('span', { class: 'badge off', text: state }) : null),
        el('td', { class: 'num connections', text: String(b.connections) }),
        el('td', { class: 'num rps', text: rps === undefined || rps === null ? '–' : fmt.num(rps) }),
        el('td', { class: `num eps${eps > 0 ? ' bad' : ''}`, text: eps === undefined || eps === null ? '–' : eps === 0 ? '0' : `${fmt.num(eps)} (${fmt.pct(errorShare)})` }),
        el('td', { class: 'num requests', text: Number(b.requests).toLocaleString('en') }),
        el('td', { class: 'num', text: b.requests > 0 ? fmt.ms(b.avg_latency_ms) : '–' }));
    });
    box.replaceChildren(el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Backend', 'Region', 'Status', 'Conns', 'Req/s', 'Errors/s', 'Requests', 'Latency'].map(
        (h, i) => el('th', { class: i >= 3 ? 'num' : '', text: h })))),
      el('tbody', {}, rows))));
  }

  function renderCache(metrics, history) {
    if (metrics === null) {
      notConfigured('cache', 'Add a cdn: section to the config to cache responses in the proxy.');
      return;
    }
    const section = document.getElementById('cache');
    section.dataset.configured = 'true';
    const samples = history ? history.samples.filter((s) => s.cdn) : [];
    const lastRate = [...samples].reverse().find((s) => s.cdn.bandwidth_bytes_per_second !== null);
    const stat = (id, label, value, note) => el('div', { class: 'stat', id },
      el('div', { class: 'stat-label', text: label }), el('div', { class: 'stat-value', text: value }),
      note ? el('div', { class: 'muted small', text: note }) : null);
    const stats = el('div', { class: 'stats' },
      stat('cache-hit-rate', 'Hit rate', fmt.pct(metrics.hit_rate),
        `${metrics.cache_hits.toLocaleString('en')} hits · ${metrics.cache_misses.toLocaleString('en')} misses`),
      stat('cache-bandwidth', 'Bandwidth now', lastRate ? fmt.rate(lastRate.cdn.bandwidth_bytes_per_second) : '–',
        `${fmt.bytes(metrics.total_bandwidth)} in total`),
      stat('cache-objects', 'Objects', metrics.cache_count.toLocaleString('en'),
        `${fmt.bytes(metrics.cache_size)} of ${fmt.bytes(metrics.max_cache_size)} (${fmt.pct(metrics.utilization)})`),
      stat('cache-evictions', 'Evictions', metrics.evictions.toLocaleString('en'),
        `${metrics.invalidations.toLocaleString('en')} invalidations · ${metrics.purges} purges`));
    stats.querySelector('#cache-hit-rate').dataset.value = String(metrics.hit_rate);
    const hitChart = el('div', { class: 'chart-holder', id: 'chart-hit-rate' });
    const bwChart = el('div', { class: 'chart-holder', id: 'chart-bandwidth' });
    const box = content('cache');
    box.replaceChildren(stats, el('div', { class: 'charts' },
      el('figure', {}, el('figcaption', { text: 'Hit rate per interval' }), hitChart),
      el('figure', {}, el('figcaption', { text: 'Bandwidth' }), bwChart)));
    const points = (f) => samples.map((s) => [new Date(s.time), f(s.cdn)]);
    lineChart(hitChart, [{ label: 'hit rate', cls: 'series-a', fill: true, points: points((c) => c.hit_rate) }],
      { label: 'cache hit rate over time', yMax: 1, format: (v) => `${Math.round(v * 100)}%` });
    lineChart(bwChart, [
      { label: 'from cache', cls: 'series-b', points: points((c) => c.cache_bytes_per_second) },
      { label: 'from origin', cls: 'series-c', points: points((c) => c.origin_bytes_per_second) },
    ], { label: 'bandwidth over time', format: (v) => fmt.rate(v) });
  }

  function renderDr(plans, stats, pointsByPlan) {
    if (plans === null) {
      notConfigured('dr', 'Add a disaster_recovery: section with backup plans to the config.');
      return;
    }
    document.getElementById('dr').dataset.configured = 'true';
    const box = content('dr');
    if (plans.length === 0) {
      box.replaceChildren(el('p', { class: 'not-configured' }, el('strong', { text: 'No backup plans.' })));
      return;
    }
    const perPlan = new Map(((stats && stats.per_plan) || []).map((p) => [p.plan_id, p]));
    box.replaceChildren(...plans.map((plan) => renderPlan(plan, perPlan.get(plan.id), pointsByPlan.get(plan.id) || [])));
  }

  function check(ok, text) {
    return el('span', { class: ok ? 'good' : 'bad' }, `${ok ? '✓' : '✗'} ${text}`);
  }

  function renderPlan(plan, status, points) {
    const now = Date.now();
    const rpoMs = plan.rpo_minutes * 60000;
    const header = el('div', { class: 'plan-head' },
      el('div', {}, el('span', { class: 'name', text: plan.name || plan.id }), ' ',
        el('span', { class: 'muted small', text: `${plan.id} · ${plan.strategy} · every ${fmt.age(plan.backup_interval_seconds)}` }),
        plan.active ? null : el('span', { class: 'badge off', text: 'inactive' })),
      el('div', { class: 'small' }, `RPO ${fmt.minutes(plan.rpo_minutes)} · RTO ${fmt.minutes(plan.rto_minutes)}`,
        plan.primary_region ? ` · ${plan.primary_region}` : '',
        plan.secondary_region ? ` → ${plan.secondary_region}` : ''));

    // Newest point against the RPO, now.
    const newest = status && status.last_backup ? new Date(status.last_backup) : null;
    const rpoNow = newest
      ? check(status.rpo_met, `newest point ${fmt.age(status.newest_point_age_seconds)} old (RPO ${fmt.minutes(plan.rpo_minutes)})`)
      : el('span', { class: 'bad', text: '✗ no recovery point yet' });

    // The last recovery test against RPO and RTO.
    let test;
    const t = status && status.last_test;
    if (!t) {
      test = el('div', { class: 'last-test small muted', 'data-result': 'none', text: 'Last test: never run' });
    } else {
      test = el('div', { class: 'last-test small', 'data-result': t.passed ? 'passed' : 'failed' },
        'Last test ', el('span', { class: `badge ${t.passed ? 'ok' : 'fail'}`, text: t.passed ? 'passed' : 'failed' }),
        ` ${fmt.dateTime(new Date(t.tested_at))} · `,
        check(t.rto_met, `restore ${fmt.ms(t.restore_time_ms)} (RTO ${fmt.minutes(t.rto_minutes)})`), ' · ',
        check(t.rpo_met, `point age ${fmt.age(t.point_age_seconds)} (RPO ${fmt.minutes(t.rpo_minutes)})`),
        t.passed ? ` · ${t.files_verified} files, ${fmt.bytes(t.bytes_verified)} verified` : ` · ${t.message}`);
    }

    // Timeline: the points, the RPO window ending now, and the last test.
    const width = Math.max(content('dr').clientWidth || 0, 400);
    const height = 70;
    const pad = 16;
    const times = points.map((p) => new Date(p.created_at).getTime());
    if (t) times.push(new Date(t.tested_at).getTime());
    const span = Math.max(rpoMs * 1.25, times.length ? (now - Math.min(...times)) * 1.1 : 0, 10 * 60000);
    const t0 = now - span;
    const x = (ms) => pad + ((ms - t0) / span) * (width - 2 * pad);
    const line = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'timeline', role: 'img', 'aria-label': `recovery points of ${plan.id}` });
    line.append(svg('rect', { x: x(Math.max(t0, now - rpoMs)), y: 8, width: x(now) - x(Math.max(t0, now - rpoMs)), height: 34, class: 'rpo-window' }));
    line.append(svg('line', { x1: pad, x2: width - pad, y1: 25, y2: 25, class: 'axis-line' }));
    line.append(svg('text', { x: x(Math.max(t0, now - rpoMs)) + 4, y: 19, class: 'axis', text: 'RPO window' }));
    for (const p of points) {
      const at = new Date(p.created_at).getTime();
      if (at < t0) continue;
      line.append(svg('circle', { cx: x(at), cy: 25, r: 6, class: `point point-${p.strategy}`, 'data-point': p.id },
        svg('title', { text: `${p.id}\n${fmt.dateTime(new Date(p.created_at))}\n${p.strategy}, ${p.file_count} files, ${fmt.bytes(p.logical_size)} (${fmt.bytes(p.stored_size)} stored)` })));
    }
    if (t) {
      const at = x(new Date(t.tested_at).getTime());
      line.append(svg('path', { d: `M${at},36 l-6,10 h12 z`, class: t.passed ? 'test-ok' : 'test-fail' },
        svg('title', { text: `recovery test ${t.passed ? 'passed' : 'failed'}` })));
    }
    for (const [ms, anchor] of [[t0, 'start'], [t0 + span / 2, 'middle'], [now, 'end']]) {
      line.append(svg('text', { x: x(ms), y: height - 4, 'text-anchor': anchor, class: 'axis', text: ms === now ? 'now' : fmt.time(new Date(ms)) }));
    }

    const recent = points.slice(-5).reverse();
    const table = recent.length === 0 ? null : el('table', { class: 'points' },
      el('thead', {}, el('tr', {}, ['Recovery point', 'Created', 'Strategy', 'Files', 'Size', 'Stored'].map((h, i) => el('th', { class: i >= 3 ? 'num' : '', text: h })))),
      el('tbody', {}, recent.map((p) => el('tr', { 'data-point': p.id },
        el('td', { class: 'mono', text: p.id }), el('td', { text: fmt.dateTime(new Date(p.created_at)) }),
        el('td', { text: p.strategy }), el('td', { class: 'num', text: String(p.file_count) }),
        el('td', { class: 'num', text: fmt.bytes(p.logical_size) }), el('td', { class: 'num', text: fmt.bytes(p.stored_size) })))));

    return el('div', { class: 'plan', 'data-plan': plan.id },
      header,
      el('div', { class: 'plan-status small' }, rpoNow, ` · ${points.length} recovery point${points.length === 1 ? '' : 's'}`),
      test,
      el('div', { class: 'legend small' },
        el('span', {}, el('i', { class: 'swatch point-full' }), 'full'),
        el('span', {}, el('i', { class: 'swatch point-incremental' }), 'incremental'),
        el('span', {}, el('i', { class: 'swatch point-differential' }), 'differential'),
        el('span', {}, el('i', { class: 'swatch tri' }), 'recovery test')),
      line, table);
  }

  // --- Polling -------------------------------------------------------------------------------

  function setConnection(kind, text) {
    const pill = document.getElementById('connection');
    pill.dataset.state = kind;
    pill.textContent = text;
    document.body.dataset.state = kind;
  }

  function showBanner(text) {
    const banner = document.getElementById('banner');
    banner.hidden = !text;
    banner.textContent = text || '';
  }

  function askForToken(message) {
    setConnection('auth', 'token needed');
    const form = document.getElementById('token-form');
    form.hidden = false;
    document.getElementById('token-error').textContent = message || '';
    document.querySelector('main').hidden = true;
    showBanner('');
  }

  async function poll(generation = state.generation) {
    try {
      const [regions, backends, strategy, lbStats, cdn, plans, drStats, history] = await Promise.all([
        required('/api/v1/regions'),
        optional('/api/v1/backends'),
        optional('/api/v1/lb/strategy'),
        optional('/api/v1/lb/stats'),
        optional('/api/v1/cdn/metrics'),
        optional('/api/v1/dr/plans'),
        optional('/api/v1/dr/stats'),
        optional('/api/v1/dashboard/history'),
      ]);
      const pointsByPlan = new Map();
      if (plans) {
        const lists = await Promise.all(plans.map((p) => optional(`/api/v1/dr/plans/${encodeURIComponent(p.id)}/recovery-points`)));
        plans.forEach((p, i) => {
          const list = (lists[i] || []).slice();
          list.sort((a, b) => new Date(a.created_at) - new Date(b.created_at));
          pointsByPlan.set(p.id, list);
        });
      }
      if (generation !== state.generation) return; // a restart() superseded this poll
      document.getElementById('token-form').hidden = true;
      document.querySelector('main').hidden = false;
      document.getElementById('token-change').hidden = !state.token;
      renderRegions(regions, history);
      renderBackends(backends, strategy, lbStats, history);
      renderCache(cdn, history);
      renderDr(plans, drStats, pointsByPlan);
      if (history) {
        document.getElementById('history-note').textContent =
          `Charts: a sample every ${history.interval_seconds} s, the last ${Math.round((history.interval_seconds * history.capacity) / 60)} min kept by the daemon.`;
      }
      state.lastSuccess = new Date();
      state.unreachableSince = null;
      state.polls += 1;
      document.body.dataset.polls = String(state.polls);
      setConnection('live', 'live');
      document.getElementById('updated').textContent = `updated ${fmt.time(state.lastSuccess)}`;
      showBanner('');
    } catch (e) {
      if (generation !== state.generation) return;
      if (e instanceof AuthError) {
        askForToken(state.token ? 'That token was refused.' : '');
      } else if (e instanceof UnreachableError) {
        if (!state.unreachableSince) state.unreachableSince = new Date();
        setConnection('unreachable', 'unreachable');
        showBanner(`Cannot reach the StreamGate daemon at ${location.host} since ${fmt.time(state.unreachableSince)}; retrying every 2 s.` +
          (state.lastSuccess ? ` Figures below are from ${fmt.time(state.lastSuccess)}.` : ''));
      } else {
        setConnection('error', 'error');
        showBanner(`The admin API answered with an error: ${e.message}`);
      }
    } finally {
      if (generation === state.generation) {
        state.timer = setTimeout(() => poll(generation), POLL_MS);
      }
    }
  }

  function restart() {
    clearTimeout(state.timer);
    state.generation += 1;
    poll(state.generation);
  }

  document.getElementById('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = document.getElementById('token-input').value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    document.getElementById('token-input').value = '';
    restart();
  });
  document.getElementById('token-change').addEventListener('click', () => {
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken('');
  });

  poll();
})();
