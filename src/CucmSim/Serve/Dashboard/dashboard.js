// cucmsim dashboard: reads the control API once, then follows the ledger's server-sent events. Each event
// flashes its listener and marks what to read again; reads are batched (at most a few per second), so a flood
// of events costs the server a bounded number of small requests.
(function () {
  'use strict';

  var MAX_TAIL = 300;
  var state = {
    listeners: new Map(),
    cells: new Map(),
    tables: [],
    tail: [],
    lastSeq: 0,
    dirty: { listeners: false, devices: false, rtp: false, probes: false, health: false },
    timer: 0,
    source: null,
    kinds: new Set(),
    calls: [],
    streams: 0
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === 'class') { e.className = attrs[k]; }
        else if (k === 'text') { e.textContent = attrs[k]; }
        else { e.setAttribute(k, attrs[k]); }
      });
    }
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); } });
    return e;
  }

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error(path + ': HTTP ' + r.status); }
      return r.json();
    });
  }

  function bytes(n) {
    if (n < 1024) { return n + ' B'; }
    if (n < 1048576) { return (n / 1024).toFixed(1) + ' KiB'; }
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  function time(t) { return t ? String(t).replace('T', ' ').replace(/\.\d+/, '').replace(/\+00:00|Z$/, '') : ''; }

  function note(text) {
    var live = $('live');
    live.textContent = text;
  }

  // ---- port map ----------------------------------------------------------------------------------------

  function buildMap(listeners, tables) {
    var map = $('map');
    map.textContent = '';
    state.cells.clear();
    var titles = new Map(tables.map(function (t) { return [t.table, t.title]; }));
    var byTable = new Map();
    listeners.forEach(function (l) {
      var ts = l.tables && l.tables.length ? l.tables : [0];
      ts.forEach(function (t) {
        if (!byTable.has(t)) { byTable.set(t, []); }
        byTable.get(t).push(l);
      });
    });
    var fTable = $('f-table');
    var fProto = $('f-protocol');
    Array.from(byTable.keys()).sort(function (a, b) { return a - b; }).forEach(function (t) {
      var grid = el('div', { class: 'grid' });
      byTable.get(t).sort(function (a, b) { return a.port - b.port || a.transport.localeCompare(b.transport); }).forEach(function (l) {
        var cell = el('div', { class: 'cell', 'data-listener': l.id, 'data-table': String(t), 'data-protocol': l.protocol });
        grid.appendChild(cell);
        if (!state.cells.has(l.id)) { state.cells.set(l.id, []); }
        state.cells.get(l.id).push(cell);
      });
      map.appendChild(el('div', { class: 'table-group', 'data-table': String(t) }, [el('h3', { text: titles.get(t) || (t ? 'Table ' + t : 'Other') }), grid]));
      fTable.appendChild(el('option', { value: String(t), text: titles.get(t) || ('Table ' + t) }));
    });
    Array.from(new Set(listeners.map(function (l) { return l.protocol; }))).sort().forEach(function (p) {
      fProto.appendChild(el('option', { value: p, text: p }));
    });
    $('map-count').textContent = listeners.length + ' listeners';
  }

  function renderCell(cell, l) {
    cell.className = 'cell ' + l.state + (l.hits > 0 ? ' hit' : '') + (cell.classList.contains('flash') ? ' flash' : '');
    cell.dataset.hits = String(l.hits);
    cell.dataset.state = l.state;
    cell.textContent = '';
    var port = l.boundPort && l.boundPort !== l.port ? l.port + ' → ' + l.boundPort : String(l.port);
    cell.appendChild(el('div', null, [el('span', { class: 'port', text: port }), el('span', { class: 'proto', text: l.transport + ' ' + l.protocol })]));
    cell.appendChild(el('div', null, ['hits ', el('span', { class: 'hits', text: String(l.hits) }),
      l.malformed > 0 ? el('span', { class: 'malformed', text: ' · malformed ' + l.malformed }) : null]));
    cell.appendChild(el('div', { class: 'bytes', text: 'in ' + bytes(l.bytesIn) + ' · out ' + bytes(l.bytesOut) }));
    cell.appendChild(el('div', { class: 'peer', title: l.lastPeer || '', text: l.lastPeer ? 'last ' + l.lastPeer : 'never hit' }));
    if (l.state !== 'bound' && l.error) { cell.appendChild(el('div', { class: 'err', text: l.error })); }
    cell.title = l.id + ' · flows ' + (l.flows || []).join(', ');
  }

  function updateListeners(listeners) {
    var hits = 0;
    var hitCount = 0;
    listeners.forEach(function (l) {
      var before = state.listeners.get(l.id);
      state.listeners.set(l.id, l);
      hits += l.hits;
      if (l.hits > 0) { hitCount++; }
      (state.cells.get(l.id) || []).forEach(function (cell) {
        renderCell(cell, l);
        if (before && l.hits > before.hits) { flash(cell); }
      });
    });
    $('map-count').textContent = listeners.length + ' listeners, ' + hitCount + ' hit, ' + (listeners.length - hitCount) + ' never hit, ' + hits + ' hits';
    applyMapFilters();
  }

  function flash(cell) {
    cell.classList.remove('flash');
    void cell.offsetWidth;
    cell.classList.add('flash');
  }

  function applyMapFilters() {
    var t = $('f-table').value;
    var p = $('f-protocol').value;
    var h = $('f-hits').value;
    var s = $('f-state').value;
    document.querySelectorAll('#map .table-group').forEach(function (g) {
      var any = false;
      g.querySelectorAll('.cell').forEach(function (c) {
        var hit = Number(c.dataset.hits || '0') > 0;
        var ok = (!t || c.dataset.table === t) && (!p || c.dataset.protocol === p) &&
          (!h || (h === 'hit' ? hit : !hit)) && (!s || c.dataset.state === s);
        c.style.display = ok ? '' : 'none';
        if (ok) { any = true; }
      });
      g.style.display = any ? '' : 'none';
    });
  }

  // ---- devices, media, probe runs -----------------------------------------------------------------------

  function renderDevices(devices) {
    var body = $('devices').tBodies[0];
    body.textContent = '';
    if (devices.length === 0) { body.appendChild(el('tr', null, [el('td', { colspan: '7', class: 'empty', text: 'no device registered' })])); }
    devices.forEach(function (d) {
      var natted = d.embeddedAddress && d.seenAddress.indexOf(d.embeddedAddress + ':') !== 0 && d.seenAddress !== d.embeddedAddress;
      body.appendChild(el('tr', { 'data-device': d.name }, [
        el('td', { text: d.name }), el('td', { text: d.protocol + (d.protocolVersion ? ' v' + d.protocolVersion : '') }), el('td', { text: d.type }),
        el('td', { text: d.seenAddress }),
        el('td', null, [d.embeddedAddress || '', natted ? el('span', { class: 'natted', text: ' natted' }) : null]),
        el('td', { text: d.listener }), el('td', { text: time(d.since) })]));
    });
    $('device-count').textContent = devices.length + ' registered';
  }

  function renderRtp(rtp) {
    var pool = $('pool');
    pool.textContent = '';
    if (rtp.stats) {
      var s = rtp.stats;
      pool.appendChild(el('p', null, ['pool ', el('b', { text: s.id }), ': ' + s.bound + '/' + s.requested + ' ports bound' +
        (s.failed ? ', ' + s.failed + ' failed' : '') + ', ' + s.allocated + ' allocated to calls of ' + s.allocatable +
        ', ' + s.activeStreams + ' streams, ' + s.packets + ' packets (' + s.rtcpPackets + ' RTCP, ' + s.probes + ' probes)']));
    } else {
      pool.appendChild(el('p', { class: 'empty', text: rtp.error || 'no RTP pool in this role' }));
    }
    var body = $('streams').tBodies[0];
    body.textContent = '';
    state.streams = (rtp.streams || []).length;
    if (!rtp.streams || rtp.streams.length === 0) { body.appendChild(el('tr', null, [el('td', { colspan: '8', class: 'empty', text: 'no stream' })])); }
    (rtp.streams || []).forEach(function (r) {
      var loss = r.packets + r.lost > 0 ? (100 * r.lost / (r.packets + r.lost)).toFixed(1) + ' %' : '';
      body.appendChild(el('tr', null, [el('td', { class: 'num', text: String(r.port) }), el('td', { text: r.peer }), el('td', { text: String(r.ssrc) }),
        el('td', { class: 'num', text: String(r.payloadType) }), el('td', { class: 'num', text: String(r.packets) }),
        el('td', { class: 'num', text: r.lost + (loss ? ' (' + loss + ')' : '') }), el('td', { class: 'num', text: r.jitterMs.toFixed(2) }), el('td', { text: r.owner || '' })]));
    });
  }

  function renderCalls() {
    var body = $('calls').tBodies[0];
    body.textContent = '';
    if (state.calls.length === 0) { body.appendChild(el('tr', null, [el('td', { colspan: '5', class: 'empty', text: 'no call yet' })])); }
    state.calls.slice().reverse().forEach(function (r) {
      body.appendChild(el('tr', null, [el('td', { text: time(r.time) }), el('td', { text: r.listener || '' }), el('td', { text: r.peer || '' }),
        el('td', { text: r.verdict || r.kind }), el('td', { text: detail(r) })]));
    });
  }

  function verdictClass(v) {
    if (v === 'allowed') { return 'v-allowed'; }
    if (v === 'rewritten' || v === 'secondary-blocked' || v === 'one-way' || v === 'inconclusive' || v === 'skipped') { return 'v-warn'; }
    return 'v-bad';
  }

  function evidence(f) {
    var lines = ['verdict: ' + (f.verdictName || f.verdict) + ' (expected ' + f.expected + ', ' + f.result + ')', 'reason: ' + f.reason];
    (f.evidence || []).forEach(function (e) { lines.push(e); });
    (f.legs || []).forEach(function (leg) {
      lines.push('leg ' + leg.name + ' ' + leg.listener + ' [' + leg.role + '] ' + (leg.verdictName || leg.verdict) + ': ' + (leg.detail || '') +
        (leg.local ? ' local ' + leg.local : '') + (leg.peerSeen ? ', seen as ' + leg.peerSeen : ''));
      (leg.evidence || []).forEach(function (e) { lines.push('  ' + e); });
    });
    (f.diffs || []).forEach(function (d) { lines.push('rewritten ' + d.leg + ' ' + d.field + ": sent '" + d.sent + "', got '" + d.got + "'"); });
    return lines.join('\n');
  }

  function renderProbeRuns(runs) {
    var box = $('probe-runs');
    box.textContent = '';
    $('probe-count').textContent = runs.length ? runs.length + ' kept' : '';
    if (runs.length === 0) { box.appendChild(el('p', { class: 'empty', text: 'no probe run received' })); return; }
    runs.slice().reverse().forEach(function (run) {
      var report = run.report || {};
      var flows = report.flows || [];
      var div = el('div', { class: 'run', 'data-run': String(run.id) }, [el('div', { class: 'title', text: '#' + run.id + ' ' + (report.role || '?') + ' to ' +
        (report.targetRole || '?') + ' at ' + run.target + ' · ' + flows.length + ' flows, ' + run.fail + ' failed · received ' + time(run.received) + ' from ' + run.from })]);
      var groups = new Map();
      flows.forEach(function (f) {
        var v = f.verdictName || String(f.verdict);
        if (!groups.has(v)) { groups.set(v, []); }
        groups.get(v).push(f);
      });
      Array.from(groups.keys()).sort().forEach(function (v) {
        var g = el('details', { class: 'verdict-group', 'data-verdict': v }, [el('summary', { class: verdictClass(v), text: v + ' (' + groups.get(v).length + ')' })]);
        groups.get(v).forEach(function (f) {
          g.appendChild(el('details', { class: 'flow', 'data-flow': f.id }, [
            el('summary', { text: f.id + ' ' + f.transport + '/' + f.ports + ' ' + f.protocol + ' — ' + f.result + ': ' + f.reason }),
            el('pre', { text: evidence(f) })]));
        });
        div.appendChild(g);
      });
      box.appendChild(div);
    });
  }

  function renderHealth(h) {
    var b = $('health');
    b.textContent = h.status;
    b.className = 'badge ' + h.status;
    $('identity').textContent = 'profile ' + h.profile + ', role ' + h.role;
    $('summary').textContent = '';
    $('summary').appendChild(el('span', null, [el('b', { text: h.bound + '/' + h.listeners }), ' listeners bound', h.failed ? ', ' + h.failed + ' failed' : '',
      ' · RTP ', el('b', { text: h.rtpBound + '/' + h.rtpRequested }), ' · ledger ', el('b', { text: String(h.ledgerSeq) }), ' records · up ' + Math.round(h.uptimeSeconds) + ' s']));
  }

  // ---- ledger tail --------------------------------------------------------------------------------------

  function detail(r) {
    var parts = [];
    if (r.nonce) { parts.push('nonce ' + r.nonce); }
    if (r.first) { parts.push(r.first); }
    if (r.bytesIn !== undefined) { parts.push('in ' + r.bytesIn); }
    if (r.bytesOut !== undefined) { parts.push('out ' + r.bytesOut); }
    if (r.closed) { parts.push(r.closed); }
    if (r.detail) { Object.keys(r.detail).forEach(function (k) { parts.push(k + '=' + r.detail[k]); }); }
    return parts.join(' · ');
  }

  function ledgerMatches(r) {
    var k = $('l-kind').value.trim().toLowerCase();
    var l = $('l-listener').value.trim().toLowerCase();
    var v = $('l-verdict').value.trim().toLowerCase();
    var p = $('l-peer').value.trim().toLowerCase();
    return (!k || (r.kind || '').toLowerCase().indexOf(k) >= 0) && (!l || (r.listener || '').toLowerCase().indexOf(l) >= 0) &&
      (!v || (r.verdict || '').toLowerCase().indexOf(v) >= 0) && (!p || (r.peer || '').toLowerCase().indexOf(p) >= 0);
  }

  function ledgerRow(r) {
    return el('tr', { 'data-seq': String(r.seq), 'data-kind': r.kind }, [el('td', { text: String(r.seq) }), el('td', { text: time(r.time) }), el('td', { text: r.kind }),
      el('td', { text: r.listener || '' }), el('td', { text: r.protocol || '' }), el('td', { text: r.peer || '' }), el('td', { text: r.verdict || '' }), el('td', { text: detail(r) })]);
  }

  function renderLedger() {
    var body = $('ledger').tBodies[0];
    body.textContent = '';
    var shown = 0;
    for (var i = state.tail.length - 1; i >= 0; i--) {
      if (ledgerMatches(state.tail[i])) { body.appendChild(ledgerRow(state.tail[i])); shown++; }
    }
    $('ledger-count').textContent = shown + ' of the newest ' + state.tail.length + ' shown';
  }

  function isCall(kind) { return kind === 'sip-call' || kind.indexOf('sccp-media') === 0; }

  function addRecord(r, fresh) {
    if (r.seq <= state.lastSeq) { return; }
    state.lastSeq = r.seq;
    state.tail.push(r);
    if (state.tail.length > MAX_TAIL) { state.tail.splice(0, state.tail.length - MAX_TAIL); }
    if (!state.kinds.has(r.kind)) {
      state.kinds.add(r.kind);
      $('kinds').appendChild(el('option', { value: r.kind }));
    }
    if (isCall(r.kind)) {
      state.calls.push(r);
      if (state.calls.length > 50) { state.calls.shift(); }
      state.dirty.calls = true;
    }
    if (!fresh) { return; }
    if (r.listener) {
      state.dirty.listeners = true;
      (state.cells.get(r.listener) || []).forEach(flash);
    }
    if (r.kind.indexOf('sccp') === 0 || r.kind.indexOf('sip-register') === 0) { state.dirty.devices = true; }
    if (r.kind.indexOf('rtp') === 0 || isCall(r.kind)) { state.dirty.rtp = true; }
    if (r.kind === 'event' && r.verdict === 'probe-run') { state.dirty.probes = true; }
    if (r.kind === 'event' || r.kind === 'listener') { state.dirty.health = true; }
    state.dirty.tail = true;
    schedule();
  }

  function schedule() {
    if (state.timer) { return; }
    state.timer = setTimeout(flush, 250);
  }

  function flush() {
    state.timer = 0;
    var d = state.dirty;
    state.dirty = { listeners: false, devices: false, rtp: false, probes: false, health: false };
    var reads = [];
    if (d.listeners) { reads.push(getJson('/api/listeners').then(updateListeners)); }
    if (d.devices) { reads.push(getJson('/api/devices').then(renderDevices)); }
    if (d.rtp) { reads.push(getJson('/api/rtp').then(renderRtp)); }
    if (d.probes) { reads.push(getJson('/api/probe-runs').then(renderProbeRuns)); }
    if (d.health || d.listeners) { reads.push(getJson('/healthz').then(renderHealth)); }
    if (d.calls) { renderCalls(); }
    if (d.tail && !$('l-pause').checked) { renderLedger(); }
    Promise.all(reads).catch(function (e) { note('read failed: ' + e.message); });
  }

  // ---- the stream ---------------------------------------------------------------------------------------

  function connect() {
    if (state.source) { state.source.close(); }
    var source = new EventSource('/api/ledger/stream?named=0&since=' + state.lastSeq);
    state.source = source;
    source.onopen = function () { note('live'); $('live').className = 'badge on'; };
    source.onmessage = function (m) {
      try { addRecord(JSON.parse(m.data), true); } catch (e) { note('bad event: ' + e.message); }
    };
    source.onerror = function () {
      note('reconnecting');
      $('live').className = 'badge off';
    };
  }

  // Media statistics change without ledger records (a stream's packets and jitter): read them while streams run.
  setInterval(function () {
    if (document.hidden || !state.source) { return; }
    if (state.streams > 0) { state.dirty.rtp = true; schedule(); }
  }, 2000);

  ['f-table', 'f-protocol', 'f-hits', 'f-state'].forEach(function (id) { $(id).addEventListener('change', applyMapFilters); });
  ['l-kind', 'l-listener', 'l-verdict', 'l-peer'].forEach(function (id) { $(id).addEventListener('input', renderLedger); });
  $('l-pause').addEventListener('change', renderLedger);

  getJson('/healthz').then(function (health) {
    return Promise.all([health, getJson('/api/tables'), getJson('/api/listeners'), getJson('/api/devices'), getJson('/api/rtp'),
      getJson('/api/probe-runs'), getJson('/api/ledger?limit=' + MAX_TAIL + '&since=' + Math.max(0, health.ledgerSeq - MAX_TAIL))]);
  }).then(function (all) {
    renderHealth(all[0]);
    buildMap(all[2], all[1]);
    updateListeners(all[2]);
    renderDevices(all[3]);
    renderRtp(all[4]);
    renderProbeRuns(all[5]);
    var page = all[6];
    page.records.forEach(function (r) { addRecord(r, false); });
    state.lastSeq = Math.max(state.lastSeq, page.lastSeq);
    renderLedger();
    renderCalls();
    connect();
    document.body.dataset.ready = 'true';
  }).catch(function (e) { note('failed: ' + e.message); });
})();
