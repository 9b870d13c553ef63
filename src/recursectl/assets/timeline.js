// recursectl timeline: draws the waterfall from the page's JSON blocks.
// The data is hostile (a handler writes its log lines): it goes into the DOM only through
// textContent and numeric style values, never as markup. Only the rows in view are built
// (virtualised), so 10,000 invocations scroll as lightly as 10.
(function () {
  'use strict';
  var ROW_H = 22, AXIS_H = 24, LABEL_W = 360, OVERSCAN = 8, INDENT = 12, MAX_INDENT = 16;
  var STATUSES = ['ok', 'error', 'timeout', 'dropped', 'missing', 'running', 'pending',
    'capped', 'stopped'];
  var KNOWN = ['request_id', 'parent_id', 'depth', 'status', 'start', 'end', 'duration_ms',
    'billed_ms', 'memory_mb', 'max_memory_mb', 'init_ms', 'error', 'children', 'attempts',
    'capped', 'stopped', 'child_failed', 'dropped_reason', 'lines', 'job'];
  var MAX_TICKS = 200;
  var JOB_STATUSES = ['running', 'done', 'failed', 'paused', 'cancelled', 'retry'];  // checkpoints drawn per hop (the collector keeps at most this many)

  function $(id) { return document.getElementById(id); }
  function readJson(id) { return JSON.parse($(id).textContent); }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
  function str(v) { return typeof v === 'string' ? v : (v === null || v === undefined ? '' : JSON.stringify(v)); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmtMs(v) {
    if (v === null) return '-';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 100) return v.toFixed(0) + ' ms';
    return v < 10 ? v.toFixed(2) + ' ms' : v.toFixed(1) + ' ms';
  }
  function jobOf(inv) { return inv.job && typeof inv.job === 'object' ? inv.job : null; }
  function intOr(v, d) { return typeof v === 'number' && isFinite(v) && Math.floor(v) === v ? v : d; }
  function progressText(p) {
    if (!p || typeof p !== 'object') return '';
    return Object.keys(p).slice(0, 16).map(function (k) { return k + '=' + str(p[k]).slice(0, 120); }).join(' ');
  }
  function fmtDur(v) {  // elapsed and time left: 41 s, 12m05s, 2h03m (as the terminal)
    if (v === null) return '-';
    var t = Math.round(v / 1000);
    if (t < 60) return v < 10000 ? (v / 1000).toFixed(1) + ' s' : t + ' s';
    if (t < 3600) return Math.floor(t / 60) + 'm' + ('0' + t % 60).slice(-2) + 's';
    return Math.floor(t / 3600) + 'h' + ('0' + Math.floor(t % 3600 / 60)).slice(-2) + 'm';
  }
  function fmtTime(ms) {
    if (ms === null) return '-';
    try { return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC'); } catch (e) { return String(ms); }
  }

  var doc = readJson('chain-data');
  if (!doc || typeof doc !== 'object') doc = {};
  var plan = readJson('row-plan');
  var cfg = readJson('page-config');
  var invs = Array.isArray(doc.invocations) ? doc.invocations : [];
  var n = invs.length;

  // Per-invocation facts, normalised once: the document may lack fields or carry new ones.
  var rid = [], start = [], end = [], initMs = [], cls = [], parentIdx = new Int32Array(n).fill(-1);
  var byId = new Map();
  var t0 = Infinity, t1 = -Infinity;
  for (var i = 0; i < n; i++) {
    var inv = invs[i] && typeof invs[i] === 'object' ? invs[i] : {};
    invs[i] = inv;
    rid[i] = str(inv.request_id);
    if (!byId.has(rid[i])) byId.set(rid[i], i);
    start[i] = num(inv.start); end[i] = num(inv.end); initMs[i] = num(inv.init_ms);
    var st = STATUSES.indexOf(inv.status) >= 0 ? inv.status : 'unknown';
    if (st === 'ok' && inv.capped !== null && inv.capped !== undefined) st = 'capped';
    if (st === 'ok' && inv.stopped === true) st = 'stopped';
    cls[i] = st;
    if (start[i] !== null) { t0 = Math.min(t0, start[i] - (initMs[i] || 0)); t1 = Math.max(t1, start[i]); }
    if (end[i] !== null) { t1 = Math.max(t1, end[i]); t0 = Math.min(t0, end[i]); }
  }
  if (!isFinite(t0)) { t0 = 0; t1 = 1; }
  if (t1 <= t0) t1 = t0 + 1;
  var linked = doc.linked !== false;
  for (i = 0; i < n; i++) {
    var p = byId.get(str(invs[i].parent_id));
    if (linked && p !== undefined && p !== i) parentIdx[i] = p;
  }
  // Where a bar sits: its own START to its REPORT; running ones run to the last event seen;
  // dropped/missing ones never ran: a marker where the parent was when it asked for them.
  function barSpan(i) {
    var s = start[i], e = end[i];
    if (s === null) {
      var p = parentIdx[i];
      var at = p >= 0 ? (end[p] !== null ? end[p] : start[p]) : null;
      s = at !== null ? at : (e !== null ? e : t0);
      return [s, s, true];
    }
    if (e === null || e < s) e = (cls[i] === 'running' || cls[i] === 'pending') ? t1 : s;
    return [s, e, false];
  }

  // Groups (collapsed runs) get ids; each invocation knows its innermost group (for "find").
  var groups = [], groupOf = new Int32Array(n).fill(-1), groupParent = [], expanded = [];
  (function index(list, parentGroup) {
    var stack = [[list, 0, parentGroup]];
    while (stack.length) {
      var top = stack[stack.length - 1];
      if (top[1] >= top[0].length) { stack.pop(); continue; }
      var item = top[0][top[1]++];
      if (Array.isArray(item)) { if (item[0] >= 0 && item[0] < n) groupOf[item[0]] = top[2]; continue; }
      item.id = groups.length; groups.push(item); groupParent.push(top[2]); expanded.push(false);
      stack.push([Array.isArray(item.rows) ? item.rows : [], 0, item.id]);
    }
  })(Array.isArray(plan) ? plan : [], -1);

  var view = $('view'), content = $('content'), axis = $('axis'), links = $('links'), rowsEl = $('rows');
  var tip = $('tip'), details = $('details');
  var SVG_NS = links.namespaceURI;
  var rows = [], rowOf = new Int32Array(n), selected = -1, scale = 0, fitScale = 1, timelineW = 0;
  var fitted = true;  // follows the window's width until the user zooms

  function flatten() {
    rows = []; rowOf.fill(-1);
    var stack = [[Array.isArray(plan) ? plan : [], 0]];
    while (stack.length) {
      var top = stack[stack.length - 1];
      if (top[1] >= top[0].length) { stack.pop(); continue; }
      var item = top[0][top[1]++];
      if (Array.isArray(item)) {
        if (item[0] >= 0 && item[0] < n) { rowOf[item[0]] = rows.length; rows.push({ i: item[0], level: item[1] | 0 }); }
      } else {
        rows.push({ g: item.id, level: item.l | 0 });
        if (expanded[item.id]) stack.push([item.rows || [], 0]);
      }
    }
  }

  function x(t) { return LABEL_W + (t - t0) * scale; }

  function layout() {
    fitScale = Math.max(1e-6, (view.clientWidth - LABEL_W - 24) / (t1 - t0));
    if (fitted || scale < fitScale) scale = fitScale;
    timelineW = Math.ceil((t1 - t0) * scale) + 24;
    var w = LABEL_W + timelineW, h = rows.length * ROW_H;
    content.style.width = w + 'px';
    content.style.height = (AXIS_H + h) + 'px';
    rowsEl.style.top = AXIS_H + 'px';
    rowsEl.style.width = w + 'px';
    content.dataset.t0 = String(t0);
    content.dataset.scale = String(scale);
    content.dataset.labelWidth = String(LABEL_W);
    content.dataset.rows = String(rows.length);
    draw();
  }

  function drawAxis() {
    axis.textContent = '';
    var corner = el('div', 'corner', 'request id / depth / status / duration');
    corner.style.width = LABEL_W + 'px';
    axis.appendChild(corner);
    var steps = [1, 2, 5];
    var step = 1, k = 0;
    while (step * scale < 90 && k < 40) { step = steps[k % 3] * Math.pow(10, Math.floor(k / 3)); k++; }
    var from = Math.max(0, Math.floor((view.scrollLeft - 0) / scale / step) * step);
    var to = Math.min(t1 - t0, (view.scrollLeft + view.clientWidth) / scale);
    for (var t = from; t <= to + step && t <= t1 - t0 + step; t += step) {
      var tick = el('div', 'tick', t < step / 2 ? '0' : '+' + fmtMs(t));
      tick.style.left = x(t0 + t) + 'px';
      axis.appendChild(tick);
    }
  }

  function labelFor(i, level) {
    var inv = invs[i];
    var lab = el('div', 'label');
    lab.style.width = LABEL_W + 'px';
    lab.style.paddingLeft = (6 + Math.min(level, MAX_INDENT) * INDENT) + 'px';
    lab.appendChild(el('span', 'id', rid[i].slice(0, 8)));
    var job = jobOf(inv), seq = job ? intOr(job.seq, null) : null;
    var place = seq !== null ? '#' + seq : (typeof inv.depth === 'number' ? 'd' + inv.depth : 'd-');
    lab.appendChild(document.createTextNode(' ' + place + ' '));
    lab.appendChild(el('span', 'st c-' + cls[i], cls[i]));
    var d = num(inv.duration_ms);
    if (d !== null) lab.appendChild(el('span', 'dur', ' ' + fmtMs(d)));
    if (initMs[i] !== null) lab.appendChild(el('span', 'dur', ' cold'));
    var err = inv.error && typeof inv.error === 'object' ? inv.error : null;
    if (err && inv.status !== 'ok') lab.appendChild(el('span', 'err', ' ' + str(err.type || 'error') + (err.message ? ': ' + str(err.message) : '')));
    else if (inv.status === 'dropped' && inv.dropped_reason) lab.appendChild(el('span', 'err', ' ' + str(inv.dropped_reason)));
    if (job) {
      if (job.duplicate_of && str(job.duplicate_of) === rid[i]) lab.appendChild(el('span', 'jobnote', ' delivered twice (one ignored)'));
      else if (job.duplicate_of) lab.appendChild(el('span', 'jobnote', ' duplicate, ignored'));
      if (job.duplicate_of && str(job.duplicate_of) !== rid[i]) { /* nothing ran */ }
      else if (intOr(job.attempt, 1) > 1) lab.appendChild(el('span', 'jobnote', ' attempt ' + job.attempt));
      var sts = Array.isArray(job.statuses) ? job.statuses : [];
      if (sts.length) {
        var last = sts[sts.length - 1] && typeof sts[sts.length - 1] === 'object' ? sts[sts.length - 1] : {};
        lab.appendChild(el('span', 'jobnote j-' + (JOB_STATUSES.indexOf(last.status) >= 0 ? last.status : 'unknown'), ' job ' + str(last.status)));
      }
    }
    return lab;
  }

  function invRow(r, row) {
    var i = row.i, div = el('div', 'row' + (i === selected ? ' sel' : ''));
    div.dataset.row = String(r);
    div.appendChild(labelFor(i, row.level));
    var sp = barSpan(i);
    if (initMs[i] !== null && start[i] !== null) {
      var seg = el('div', 'bar init');
      seg.style.left = x(start[i] - initMs[i]) + 'px';
      seg.style.width = Math.max(1, initMs[i] * scale) + 'px';
      seg.style.top = '5px'; seg.style.height = (ROW_H - 10) + 'px';
      seg.dataset.init = String(initMs[i]);
      div.appendChild(seg);
    }
    var bar = el('div', 'bar s-' + cls[i]);
    bar.style.left = x(sp[0]) + 'px';
    bar.style.width = Math.max(sp[2] ? 8 : 2, (sp[1] - sp[0]) * scale) + 'px';
    bar.style.top = '4px'; bar.style.height = (ROW_H - 8) + 'px';
    bar.dataset.rid = rid[i];
    bar.dataset.status = cls[i];
    if (start[i] !== null) bar.dataset.start = String(start[i]);
    if (end[i] !== null) bar.dataset.end = String(end[i]);
    div.appendChild(bar);
    var job = jobOf(invs[i]);
    var cks = job && Array.isArray(job.checkpoints) ? job.checkpoints : [];
    for (var k = 0; k < cks.length && k < MAX_TICKS; k++) {
      var ck = cks[k] && typeof cks[k] === 'object' ? cks[k] : {}, ts = num(ck.ts);
      if (ts === null) continue;
      var tick = el('div', 'ckpt' + (ck.spilled === true ? ' spilled' : ''));
      tick.style.left = (x(ts) - 1) + 'px';
      tick.style.top = '2px'; tick.style.height = (ROW_H - 4) + 'px';
      tick.dataset.ts = String(ts);
      tick.dataset.rid = rid[i];
      div.appendChild(tick);
    }
    return div;
  }

  function groupRow(r, row) {
    var g = groups[row.g], div = el('div', 'row group');
    div.dataset.row = String(r);
    div.dataset.group = String(row.g);
    var lab = el('div', 'label');
    lab.style.width = LABEL_W + 'px';
    lab.style.paddingLeft = (6 + Math.min(row.level, MAX_INDENT) * INDENT) + 'px';
    lab.textContent = (expanded[row.g] ? '\u25be ' : '\u25b8 ') + str(g.label);
    div.title = expanded[row.g] ? 'click to collapse' : 'click to expand';
    div.appendChild(lab);
    var s = num(g.s), e = num(g.e);
    if (s !== null && e !== null) {
      var span = el('div', 'span');
      span.style.left = x(s) + 'px';
      span.style.width = Math.max(2, (e - s) * scale) + 'px';
      span.style.top = (ROW_H / 2 - 2) + 'px';
      div.appendChild(span);
    }
    return div;
  }

  function linkPath(p, c) {
    // Down from the parent's bar at the moment the child started, then across to the child.
    // A cold child's life began with its init, before its START: the link ends there.
    var ps = barSpan(p), cs = barSpan(c);
    var xc = x(cs[0] - (cs[2] ? 0 : initMs[c] || 0));
    var xp = Math.min(Math.max(xc, x(ps[0]) + 1), x(ps[1]) - 1);
    if (x(ps[1]) - x(ps[0]) < 2) xp = x(ps[0]) + 1;
    var yp = rowOf[p] * ROW_H + ROW_H - 4, yc = rowOf[c] * ROW_H + ROW_H / 2;
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', 'M' + xp.toFixed(1) + ' ' + yp + 'V' + yc + 'H' + Math.max(xp, xc).toFixed(1));
    path.setAttribute('class', 'link' + (p === selected || c === selected ? ' sel' : ''));
    path.dataset.parent = rid[p];
    path.dataset.child = rid[c];
    return path;
  }

  function draw() {
    var top = view.scrollTop;
    var first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    var last = Math.min(rows.length - 1, Math.ceil((top + view.clientHeight) / ROW_H) + OVERSCAN);
    var frag = document.createDocumentFragment(), lfrag = document.createDocumentFragment();
    var w = LABEL_W + timelineW;
    for (var r = first; r <= last; r++) {
      var row = rows[r], div = row.g !== undefined ? groupRow(r, row) : invRow(r, row);
      div.style.top = (r * ROW_H) + 'px';
      div.style.width = w + 'px';
      div.style.height = ROW_H + 'px';
      frag.appendChild(div);
      if (row.g !== undefined) continue;
      var i = row.i, p = parentIdx[i];
      if (p >= 0 && rowOf[p] >= 0) lfrag.appendChild(linkPath(p, i));
      var kids = invs[i].children;
      if (Array.isArray(kids)) {
        for (var k = 0; k < kids.length; k++) {  // links leaving the window downwards
          var c = byId.get(str(kids[k]));
          if (c !== undefined && parentIdx[c] === i && rowOf[c] > last) lfrag.appendChild(linkPath(i, c));
        }
      }
    }
    rowsEl.textContent = '';
    rowsEl.appendChild(frag);
    while (links.firstChild) links.removeChild(links.firstChild);
    links.appendChild(lfrag);
    links.style.top = AXIS_H + 'px';
    links.setAttribute('width', String(w));
    links.setAttribute('height', String(Math.max(1, rows.length * ROW_H)));
    drawAxis();
  }

  // Summary, title, legend -------------------------------------------------------------
  function header() {
    var cid = str(doc.chain_id);
    $('title').textContent = 'chain ' + cid;
    document.title = 'recursectl timeline: ' + cid.slice(0, 8);
    var state = $('state');
    if (!linked) { state.textContent = 'no recursectl markers: time order, links unknown'; state.className = 'unlinked'; }
    else if (doc.complete === true) { state.textContent = 'complete'; state.className = 'complete'; }
    else { state.textContent = 'in progress'; state.className = 'progress'; }
    jobHeader(doc.job && typeof doc.job === 'object' ? doc.job : null);
    var s = doc.summary && typeof doc.summary === 'object' ? doc.summary : {};
    var box = $('summary');
    function item(text, klass) { box.appendChild(el('span', 'item' + (klass ? ' ' + klass : ''), text)); }
    function plural(v, w) { return v + ' ' + w + (v === 1 ? '' : 's'); }
    var count = num(s.count) !== null ? s.count : n;
    item(plural(count, 'invocation'));
    item(plural(num(s.errors) || 0, 'error'), s.errors ? 'bad' : '');
    [['timeouts', 'timeouts', 'bad'], ['dropped', 'dropped', 'bad'], ['missing', 'missing', 'warn'],
      ['running', 'running', ''], ['retries', 'retries', 'warn']].forEach(function (f) {
      if (num(s[f[0]])) item(s[f[0]] + ' ' + f[1], f[2]);
    });
    if (num(s.cold_starts) !== null) item(plural(s.cold_starts, 'cold start'));
    if (num(s.wall_ms) !== null) item('wall ' + fmtMs(s.wall_ms));
    if (num(s.billed_ms) !== null) item('billed ' + Math.round(s.billed_ms).toLocaleString('en-US') + ' ms');
    if (num(s.gb_seconds) !== null) item(s.gb_seconds.toFixed(4) + ' GB-s');
    if (num(s.estimated_cost_usd) !== null) item('\u2248 $' + s.estimated_cost_usd.toFixed(7) + ' (estimate, ' + cfg.cost_basis + ')', 'note');
    var legend = $('legend');
    ['ok', 'error', 'timeout', 'dropped', 'missing', 'running', 'capped', 'stopped'].forEach(function (name) {
      var span = el('span');
      span.appendChild(el('span', 'sw s-' + name));
      span.appendChild(document.createTextNode(name));
      legend.appendChild(span);
    });
    var initSw = el('span');
    initSw.appendChild(el('span', 'sw init'));
    initSw.lastChild.style.background = 'var(--init)';
    initSw.appendChild(document.createTextNode('init (cold start)'));
    legend.appendChild(initSw);
  }

  // A long job's line: status, hops, progress (a bar from done/total), elapsed, spend.
  function jobHeader(job) {
    var box = $('job');
    if (!job) return;
    box.hidden = false;
    var status = JOB_STATUSES.indexOf(job.status) >= 0 ? job.status : 'unknown';
    box.appendChild(el('span', 'jobid', 'job ' + str(job.id).slice(0, 8)));
    box.appendChild(el('span', 'jobstatus j-' + status, str(job.status)));
    var hops = intOr(job.hops, 0);
    var first = intOr(job.first_seq, 0);
    box.appendChild(el('span', 'item', hops + ' hop' + (hops === 1 ? '' : 's') + (first > 0 ? ' (resumed at #' + first + ')' : '')));
    var frac = num(job.fraction);
    if (frac !== null) {
      var bar = el('span', 'progress');
      var fill = el('span', 'fill');
      fill.style.width = (Math.max(0, Math.min(1, frac)) * 100).toFixed(1) + '%';
      bar.appendChild(fill);
      box.appendChild(bar);
      box.appendChild(el('span', 'item', Math.round(frac * 100) + '% ' + str(job.done) + '/' + str(job.total)));
    }
    var others = {};
    var p = job.progress && typeof job.progress === 'object' ? job.progress : {};
    Object.keys(p).forEach(function (k) { if (k !== 'done' && k !== 'total') others[k] = p[k]; });
    if (Object.keys(others).length) box.appendChild(el('span', 'item', progressText(others)));
    if (intOr(job.waiting, null) !== null) box.appendChild(el('span', 'item warn', 'hop #' + job.waiting + ' invoked, not started'));
    if (num(job.eta_ms) !== null) box.appendChild(el('span', 'item', '\u2248 ' + fmtDur(job.eta_ms) + ' left'));
    if (num(job.elapsed_ms) !== null) box.appendChild(el('span', 'item', 'elapsed ' + fmtDur(job.elapsed_ms)));
    if (num(job.spend_usd) !== null) box.appendChild(el('span', 'item note', '\u2248 $' + job.spend_usd.toFixed(7)));
    if (intOr(job.retries, 0) > 0) box.appendChild(el('span', 'item warn', job.retries + (job.retries === 1 ? ' retry' : ' retries')));
    if (intOr(job.duplicates, 0) > 0) box.appendChild(el('span', 'item warn', job.duplicates + ' duplicate' + (job.duplicates === 1 ? '' : 's') + ' ignored'));
    if (intOr(job.checkpoints, 0) > 0) box.appendChild(el('span', 'item', job.checkpoints + ' checkpoint' + (job.checkpoints === 1 ? '' : 's') + (intOr(job.spilled, 0) ? ' (' + job.spilled + ' spilled)' : '')));
    if (job.error) box.appendChild(el('span', 'item bad', str(job.error).slice(0, 300)));
    var legend = $('legend');
    var sw = el('span');
    sw.appendChild(el('span', 'sw ckpt-sw'));
    sw.appendChild(document.createTextNode('checkpoint'));
    legend.appendChild(sw);
  }

  // Hover and click ---------------------------------------------------------------------
  function facts(i) {
    var inv = invs[i], out = [];
    function add(k, v) { out.push([k, v]); }
    add('status', cls[i] === inv.status ? str(inv.status) : str(inv.status) + ' (' + cls[i] + ')');
    add('depth', inv.depth === null || inv.depth === undefined ? '-' : str(inv.depth));
    if (inv.parent_id) add('parent', str(inv.parent_id));
    add('start', fmtTime(start[i]));
    add('end', fmtTime(end[i]));
    add('duration', fmtMs(num(inv.duration_ms)));
    add('billed', fmtMs(num(inv.billed_ms)));
    var mem = num(inv.memory_mb), maxMem = num(inv.max_memory_mb);
    add('memory', (maxMem === null ? '-' : maxMem) + ' of ' + (mem === null ? '-' : mem) + ' MB used');
    if (initMs[i] !== null) add('init (cold start)', fmtMs(initMs[i]));
    var billed = num(inv.billed_ms);
    if (billed !== null && mem !== null) {
      var gbs = billed * mem / 1024 / 1000;
      add('cost', '\u2248 $' + (gbs * cfg.price_gb_s + cfg.price_request).toFixed(10) + ' (' + gbs.toFixed(6) + ' GB-s; estimate, ' + cfg.cost_basis + (inv.attempts > 1 ? ', last attempt' : '') + ')');
    }
    if (num(inv.attempts) !== null && inv.attempts !== 1) add('attempts', str(inv.attempts) + (inv.attempts > 1 ? ' (retried)' : ''));
    var err = inv.error && typeof inv.error === 'object' ? inv.error : null;
    if (err) add('error', str(err.type || 'error') + (err.message ? ': ' + str(err.message) : ''));
    if (inv.dropped_reason) add('dropped', str(inv.dropped_reason));
    if (cls[i] === 'missing') add('missing', 'announced by its parent, never started');
    if (inv.capped !== null && inv.capped !== undefined) add('capped', 'RECURSECTL_MAX_CALLS=' + str(inv.capped) + ' reached');
    if (inv.stopped === true) add('stopped', '`recursectl stop` ended the chain here');
    if (Array.isArray(inv.child_failed)) inv.child_failed.forEach(function (m) { add('child invoke failed', str(m)); });
    if (Array.isArray(inv.children)) add('children', String(inv.children.length));
    var job = jobOf(inv);
    if (job) {
      add('job', str(job.id));
      add('hop', (job.seq === null || job.seq === undefined ? '-' : str(job.seq)) + (intOr(job.attempt, 1) > 1 ? ', attempt ' + str(job.attempt) + ' (retry from the checkpoint)' : ''));
      if (job.duplicate_of) add('duplicate', 'delivered again, ignored: the hop is claimed by ' + str(job.duplicate_of));
      var cks = Array.isArray(job.checkpoints) ? job.checkpoints : [];
      if (cks.length) {
        var lastCk = cks[cks.length - 1] && typeof cks[cks.length - 1] === 'object' ? cks[cks.length - 1] : {};
        var spilled = cks.filter(function (c) { return c && c.spilled === true; }).length;
        add('checkpoints', String(cks.length + intOr(job.checkpoints_dropped, 0)) + (spilled ? ' (' + spilled + ' spilled to the job bucket)' : ''));
        add('last checkpoint', fmtTime(num(lastCk.ts)) + '  ' + progressText(lastCk.progress) + (num(lastCk.bytes) !== null ? '  ' + lastCk.bytes + ' bytes' : ''));
      }
      (Array.isArray(job.statuses) ? job.statuses : []).forEach(function (e) {
        e = e && typeof e === 'object' ? e : {};
        add('job status', str(e.status) + (e.error ? ': ' + str(e.error) : ''));
      });
    }
    Object.keys(inv).forEach(function (k) {  // fields newer than this page
      if (KNOWN.indexOf(k) < 0 && inv[k] !== null && inv[k] !== undefined) add(k, str(inv[k]).slice(0, 4000));
    });
    return out;
  }

  function showTip(ev, i) {
    var inv = invs[i];
    var text = rid[i] + '\n' + cls[i] + '  ' + fmtMs(num(inv.duration_ms)) + '  billed ' + fmtMs(num(inv.billed_ms)) +
      '  ' + (num(inv.max_memory_mb) === null ? '-' : inv.max_memory_mb) + '/' + (num(inv.memory_mb) === null ? '-' : inv.memory_mb) + ' MB';
    if (initMs[i] !== null) text += '  init ' + fmtMs(initMs[i]);
    var err = inv.error && typeof inv.error === 'object' ? inv.error : null;
    if (err) text += '\n' + str(err.type || 'error') + (err.message ? ': ' + str(err.message).slice(0, 300) : '');
    if (Array.isArray(inv.lines) && inv.lines.length) text += '\n' + inv.lines.length + ' log lines (click for details)';
    var job = jobOf(inv);
    if (job) {
      text += '\njob hop ' + str(job.seq) + (intOr(job.attempt, 1) > 1 ? ' attempt ' + str(job.attempt) : '') + (job.duplicate_of ? ' (duplicate, ignored)' : '');
      var cks = Array.isArray(job.checkpoints) ? job.checkpoints : [];
      if (cks.length) {
        var lastCk = cks[cks.length - 1] && typeof cks[cks.length - 1] === 'object' ? cks[cks.length - 1] : {};
        text += '\n' + cks.length + ' checkpoint' + (cks.length === 1 ? '' : 's') + ', last: ' + progressText(lastCk.progress).slice(0, 300);
      }
    }
    tip.textContent = text;
    tip.hidden = false;
    var left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    var topPx = ev.clientY + 16;
    if (topPx + tip.offsetHeight > window.innerHeight - 8) topPx = ev.clientY - tip.offsetHeight - 10;
    tip.style.left = Math.max(4, left) + 'px';
    tip.style.top = Math.max(4, topPx) + 'px';
  }

  function showDetails(i) {
    var inv = invs[i];
    details.textContent = '';
    var close = el('button', 'close', '\u00d7');
    close.type = 'button';
    close.title = 'close (Esc)';
    close.addEventListener('click', function () { select(-1); });
    details.appendChild(close);
    details.appendChild(el('h2', '', rid[i]));
    var dl = el('dl');
    facts(i).forEach(function (kv) {
      dl.appendChild(el('dt', '', kv[0]));
      var dd = el('dd', '', kv[1]);
      if (kv[0] === 'parent' && byId.has(kv[1])) {
        dd.className = 'link';
        dd.addEventListener('click', function () { reveal(byId.get(kv[1])); });
      }
      dl.appendChild(dd);
    });
    details.appendChild(dl);
    var lines = Array.isArray(inv.lines) ? inv.lines : [];
    details.appendChild(el('div', '', lines.length ? 'log lines (' + lines.length + ')' : 'no log lines kept (run `recursectl logs` with --lines for them)'));
    if (lines.length) {
      var pre = el('pre', 'lines');
      lines.forEach(function (ln) {
        ln = ln && typeof ln === 'object' ? ln : {};
        var level = str(ln.level);
        var div = el('div', /^[A-Z]{1,10}$/.test(level) ? level : '');
        var ts = num(ln.ts);
        div.appendChild(el('span', 'lv', (ts === null ? '' : fmtTime(ts).slice(11, 23) + ' ') + (level ? level + ' ' : '')));
        div.appendChild(document.createTextNode(str(ln.text)));
        pre.appendChild(div);
      });
      details.appendChild(pre);
    }
    details.hidden = false;
  }

  function select(i) {
    selected = i;
    if (i < 0) details.hidden = true; else showDetails(i);
    draw();
  }

  function reveal(i) {
    for (var g = groupOf[i]; g >= 0; g = groupParent[g]) expanded[g] = true;
    flatten(); layout();
    var r = rowOf[i];
    if (r >= 0 && (r * ROW_H < view.scrollTop || (r + 1) * ROW_H > view.scrollTop + view.clientHeight - AXIS_H)) {
      view.scrollTop = Math.max(0, r * ROW_H - view.clientHeight / 3);
    }
    select(i);
  }

  rowsEl.addEventListener('mousemove', function (ev) {
    var rowDiv = ev.target.closest ? ev.target.closest('.row') : null;
    if (!rowDiv || rowDiv.dataset.group !== undefined) { tip.hidden = true; return; }
    showTip(ev, rows[+rowDiv.dataset.row].i);
  });
  rowsEl.addEventListener('mouseleave', function () { tip.hidden = true; });
  rowsEl.addEventListener('click', function (ev) {
    var rowDiv = ev.target.closest ? ev.target.closest('.row') : null;
    if (!rowDiv) return;
    if (rowDiv.dataset.group !== undefined) {
      var g = +rowDiv.dataset.group;
      expanded[g] = !expanded[g];
      flatten(); layout();
      return;
    }
    var i = rows[+rowDiv.dataset.row].i;
    select(i === selected ? -1 : i);
  });

  function zoom(factor) {
    var centre = (view.scrollLeft + view.clientWidth / 2 - LABEL_W) / scale;
    // At most 50 px per ms, and below Chromium's limit on element sizes.
    scale = factor === 0 ? fitScale : Math.min(50, 3e6 / (t1 - t0), Math.max(fitScale, scale * factor));
    fitted = scale <= fitScale;
    layout();
    view.scrollLeft = Math.max(0, centre * scale + LABEL_W - view.clientWidth / 2);
  }
  $('zoom-in').addEventListener('click', function () { zoom(2); });
  $('zoom-out').addEventListener('click', function () { zoom(0.5); });
  $('zoom-fit').addEventListener('click', function () { zoom(0); });
  $('expand-all').addEventListener('click', function () { expanded.fill(true); flatten(); layout(); });
  $('collapse-all').addEventListener('click', function () { expanded.fill(false); flatten(); layout(); });
  $('find').addEventListener('keydown', function (ev) {
    if (ev.key !== 'Enter') return;
    var q = ev.target.value.trim().toLowerCase();
    if (!q) return;
    for (var k = 0; k < n; k++) {
      var j = (selected + 1 + k) % n;
      if (rid[j].toLowerCase().indexOf(q) >= 0) { reveal(j); return; }
    }
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.target && ev.target.tagName === 'INPUT') return;
    if (ev.key === 'Escape') select(-1);
    else if (ev.key === '+' || ev.key === '=') zoom(2);
    else if (ev.key === '-') zoom(0.5);
    else if (ev.key === '0') zoom(0);
  });
  var pending = false;
  view.addEventListener('scroll', function () {
    tip.hidden = true;
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  });
  window.addEventListener('resize', function () { layout(); });

  header();
  flatten();
  layout();
  document.body.dataset.ready = 'true';
})();
