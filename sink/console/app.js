/*
 * app.js - the phonereport console: hash routes over the public query API, with the user's
 * token (sessionStorage, this tab only) as a Bearer header. No framework and no build step:
 * the sink serves this file as it is. Every text from the API goes into the page through
 * textContent (h() below), never as HTML.
 *
 *   #/                      fleet overview (/v1/fleet)
 *   #/phones?<filters>      phone search and paging (/v1/phones, the same query string)
 *   #/phone/<mac>           one phone: summary, open drift, configuration, status, history;
 *                           history.js adds operations, versions, diffs and comparison
 *   #/drift?after=          drift across the fleet (/v1/drift)
 *   #/params[/<name>]       a parameter's values across the fleet (/v1/params/<name>)
 */
'use strict';
(function () {
  var TOKEN_KEY = 'phonereport.token';
  var main = document.getElementById('main');
  var loginBox = document.getElementById('login');
  var loginForm = document.getElementById('login-form');
  var loginError = document.getElementById('login-error');
  var nav = document.getElementById('nav');
  var logout = document.getElementById('logout');
  var renderSeq = 0;

  function AuthError(msg) { this.message = msg; }
  AuthError.prototype = Object.create(Error.prototype);

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  /* GET path from the API as JSON; opts.raw returns the Response (exports). 401 throws
     AuthError (the login prompt), other errors carry the API's one-line reason. */
  function api(path, opts) {
    opts = opts || {};
    var headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    if (opts.accept) headers.Accept = opts.accept;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) throw new AuthError('credentials required');
      if (opts.raw && r.ok) return r;
      return r.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        if (!r.ok) {
          var err = new Error(body && body.error ? body.error : 'HTTP ' + r.status);
          err.status = r.status;
          throw err;
        }
        return body;
      });
    });
  }

  /* POST path (an action: admin); resolves with the Response, or throws as api() does. */
  function post(path) {
    var headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    return fetch(path, { method: 'POST', headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.ok) return r;
      return r.json().catch(function () { return {}; }).then(function (b) {
        var err = new Error(b && b.error ? b.error : 'HTTP ' + r.status);
        err.status = r.status;
        throw err;
      });
    });
  }

  /* A lookup by a name the API or a phone chose: own properties only, so that a parameter
     named constructor, toString or valueOf never finds Object.prototype's functions. */
  function own(obj, key) {
    return obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  /* h('a', {href: '#/', class: 'x'}, 'text', child...) */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else if (k === 'data') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else el.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) el.append(x); });
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function enc(s) { return encodeURIComponent(s); }

  function ago(iso) {
    if (!iso) return '—';
    var t = Date.parse(iso);
    if (isNaN(t)) return iso;
    var s = Math.round((Date.now() - t) / 1000);
    if (s < 0) s = 0;
    if (s < 90) return s + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 129600) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function when(iso) {
    return h('time', { datetime: iso || '', title: iso || '' }, ago(iso));
  }

  function lastSeen(p) {
    var a = p.updated_at || '', b = p.status_at || '';
    return p.last_seen || (a > b ? a : b) || null;
  }

  function card(title, body, id) {
    return h('section', { class: 'card', id: id }, title ? h('h2', { text: title }) : null, body);
  }

  function tableWrap(head, rows, id) {
    return h('div', { class: 'table-wrap' },
      h('table', { id: id },
        h('thead', null, h('tr', null, head.map(function (c) {
          return h('th', { class: c.num ? 'num' : null, text: c.t || c });
        }))),
        h('tbody', null, rows)));
  }

  /* Horizontal bars: items [{label, count, href}] scaled to the largest. */
  function bars(items, id, warn) {
    var max = items.reduce(function (m, x) { return Math.max(m, x.count); }, 0) || 1;
    if (!items.length) return h('p', { class: 'muted', text: 'Nothing yet.' });
    return h('ul', { class: 'bars' + (warn ? ' warn' : ''), id: id }, items.map(function (x) {
      var fill = h('div', { class: 'fill' });
      fill.style.width = (100 * x.count / max).toFixed(1) + '%';
      return h('li', { data: { label: x.label, count: String(x.count) } },
        x.href ? h('a', { class: 'label', href: x.href, title: x.label, text: x.label })
          : h('span', { class: 'label', title: x.label, text: x.label }),
        h('div', { class: 'track' }, fill),
        h('span', { class: 'num', text: String(x.count) }));
    }));
  }

  function parseHash() {
    var raw = location.hash.replace(/^#\/?/, '');
    var qi = raw.indexOf('?');
    var path = qi >= 0 ? raw.slice(0, qi) : raw;
    var query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
    return { parts: path.split('/').filter(Boolean), query: query };
  }

  /* ---- pages ---------------------------------------------------------------------- */

  function overview(view) {
    return api('/v1/fleet').then(function (f) {
      function stat(id, n, label, href, warn) {
        return h('a', { class: 'stat' + (warn && n ? ' warn' : ''), id: id, href: href, data: { count: String(n) } },
          h('span', { class: 'n', text: String(n) }), h('span', { class: 'l', text: label }));
      }
      var ages = { '1h': 'within an hour', '24h': '1 h – 24 h', '7d': '1 – 7 days', '30d': '7 – 30 days', older: 'longer ago' };
      var seenHref = { '1h': 'seen_after=1h', '24h': 'seen_after=24h&seen_before=1h', '7d': 'seen_after=7d&seen_before=24h',
        '30d': 'seen_after=30d&seen_before=7d', older: 'seen_before=30d' };
      view.append(
        h('h1', { text: 'Fleet overview' }),
        h('div', { class: 'stats' },
          stat('count-phones', f.phones, 'phones', '#/phones'),
          stat('count-complete', f.complete['true'], 'with a full configuration', '#/phones?complete=true'),
          stat('count-incomplete', f.complete['false'], 'without a full report yet', '#/phones?complete=false'),
          stat('count-drifted', f.drifted['true'], 'phones drifted from their profile', '#/phones?drifted=true', true),
          stat('count-drifted-params', f.drifted_params, 'drifted parameters', '#/drift', true)),
        h('div', { class: 'grid' },
          card('Models', bars(f.models.map(function (m) {
            var v = m.value === null ? '(unknown)' : m.value;
            return { label: v, count: m.count, href: m.value === null ? null : '#/phones?model=' + enc(m.value) };
          }), 'chart-models')),
          card('Firmware', bars(f.firmware.map(function (m) {
            var v = m.value === null ? '(unknown)' : m.value;
            return { label: v, count: m.count, href: m.value === null ? null : '#/phones?firmware=' + enc(m.value) };
          }), 'chart-firmware')),
          card('Last seen', bars(f.last_seen.map(function (b) {
            return { label: own(ages, b.within) || b.within, count: b.count, href: '#/phones?' + own(seenHref, b.within) };
          }), 'chart-seen')),
          card('Most drifted parameters', bars(f.drift_by_param.map(function (d) {
            return { label: d.param, count: d.count, href: '#/params/' + enc(d.param) };
          }), 'chart-drift', true))));
    });
  }

  var OPS = [['eq', '='], ['prefix', 'starts with'], ['ne', '≠']];

  function paramRow(name, op, value) {
    var row = h('div', { class: 'param-row' },
      h('input', { class: 'p-name', 'aria-label': 'parameter name', placeholder: 'parameter, e.g. Proxy_1_', value: name || '' }),
      h('select', { class: 'p-op', 'aria-label': 'comparison' }, OPS.map(function (o) {
        return h('option', { value: o[0], selected: o[0] === op, text: o[1] });
      })),
      h('input', { class: 'p-value', 'aria-label': 'value', placeholder: 'value', value: value || '' }),
      h('button', { type: 'button', class: 'secondary', title: 'remove', text: '×', onclick: function () { row.remove(); } }));
    return row;
  }

  /* The form's fields as the API's query string (the page's URL holds the same). */
  function searchQuery(form) {
    var q = new URLSearchParams();
    ['model', 'firmware', 'complete', 'drifted', 'seen_after', 'seen_before'].forEach(function (k) {
      var v = form.elements[k].value.trim();
      if (v) q.append(k, v);
    });
    form.querySelectorAll('.param-row').forEach(function (row) {
      var n = row.querySelector('.p-name').value.trim();
      var op = row.querySelector('.p-op').value;
      var v = row.querySelector('.p-value').value;
      if (!n) return;
      if (op === 'ne') q.append('param.' + n + '!', v);
      else if (op === 'prefix') q.append('param.' + n, v + '*');
      else q.append('param.' + n, /\*$/.test(v) ? v.slice(0, -1) + '\\*' : v);
    });
    return q;
  }

  function download(path, accept, filename) {
    return api(path, { raw: true, accept: accept }).then(function (r) { return r.blob(); }).then(function (b) {
      var a = h('a', { href: URL.createObjectURL(b), download: filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    }).catch(showError);
  }

  function phones(view, q) {
    function field(name, label, ph) {
      return h('div', null, h('label', { for: 'f-' + name, text: label }),
        h('input', { id: 'f-' + name, name: name, placeholder: ph, value: q.get(name) || '' }));
    }
    function choice(name, label) {
      return h('div', null, h('label', { for: 'f-' + name, text: label }),
        h('select', { id: 'f-' + name, name: name }, [['', 'any'], ['true', 'yes'], ['false', 'no']].map(function (o) {
          return h('option', { value: o[0], selected: (q.get(name) || '') === o[0], text: o[1] });
        })));
    }
    var rows = h('div', { id: 'param-rows', class: 'wide' });
    q.forEach(function (v, k) {
      if (k.indexOf('param.') !== 0) return;
      var name = k.slice(6), op = 'eq';
      if (/!$/.test(name)) { name = name.slice(0, -1); op = 'ne'; }
      else if (/\\\*$/.test(v)) { v = v.slice(0, -2) + '*'; }
      else if (/\*$/.test(v)) { v = v.slice(0, -1); op = 'prefix'; }
      rows.append(paramRow(name, op, v));
    });
    if (!rows.children.length) rows.append(paramRow('', 'eq', ''));
    var form = h('form', { class: 'search', id: 'search' },
      field('model', 'Model (CP-88* for a prefix)', 'CP-8841-3PCC'),
      field('firmware', 'Firmware (12.* for a prefix)', '12.0.1'),
      choice('complete', 'Full configuration'),
      choice('drifted', 'Drifted'),
      field('seen_after', 'Last seen after', '24h, 7d or 2026-11-24'),
      field('seen_before', 'Last seen before', '30d or 2026-11-24T12:00:00Z'),
      h('div', { class: 'wide' }, h('label', { text: 'Parameter values' }), rows),
      h('div', { class: 'wide actions' },
        h('button', { type: 'submit', id: 'search-submit', text: 'Search' }),
        h('button', { type: 'button', class: 'secondary', text: '+ parameter', onclick: function () { rows.append(paramRow('', 'eq', '')); } }),
        h('a', { href: '#/phones', text: 'Clear' })));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      location.hash = '#/phones' + (searchQuery(form).toString() ? '?' + searchQuery(form).toString() : '');
    });
    var apiQuery = new URLSearchParams(q);
    if (!apiQuery.get('limit')) apiQuery.set('limit', '50');
    return api('/v1/phones?' + apiQuery.toString()).then(function (res) {
      var exportQ = new URLSearchParams(q);
      exportQ.delete('after');
      exportQ.delete('limit');
      var list = res.phones.map(function (p) {
        return h('tr', { class: 'phone-row' + (p.drifted ? ' drifted' : ''), data: { mac: p.mac } },
          h('td', null, h('a', { class: 'mono', href: '#/phone/' + p.mac, text: p.mac })),
          h('td', { text: p.model || '—' }),
          h('td', { text: p.firmware || '—' }),
          h('td', { class: 'num', text: String(p.version) }),
          h('td', null, p.complete ? h('span', { class: 'badge ok', text: 'full' }) : h('span', { class: 'badge', text: 'partial' })),
          h('td', { class: 'num' }, p.drifted ? h('span', { class: 'badge warn', text: String(p.drifted) }) : '0'),
          h('td', { class: 'num', text: String(p.params) }),
          h('td', null, when(lastSeen(p))));
      });
      var next = null;
      if (res.next) {
        var nq = new URLSearchParams(q);
        nq.set('after', res.next);
        next = h('a', { id: 'next-page', href: '#/phones?' + nq.toString(), text: 'Next page →' });
      }
      var first = null;
      if (q.get('after')) {
        var fq = new URLSearchParams(q);
        fq.delete('after');
        first = h('a', { href: '#/phones' + (fq.toString() ? '?' + fq.toString() : ''), text: '← First page' });
      }
      view.append(h('h1', { text: 'Phones' }), card(null, form),
        card(null, [
          h('div', { class: 'actions' },
            h('span', { id: 'result-count', class: 'muted', text: list.length + (list.length === 1 ? ' phone' : ' phones') + (res.next ? ' on this page' : '') + (res.indexed === false ? ' · found by a scan (a parameter without an index: --sink-index-params)' : '') }),
            h('button', { type: 'button', class: 'secondary', id: 'export-csv', text: 'Export CSV', onclick: function () {
              download('/v1/phones?' + exportQ.toString() + (exportQ.toString() ? '&' : '') + 'format=csv', null, 'phones.csv');
            } }),
            h('button', { type: 'button', class: 'secondary', id: 'export-ndjson', text: 'Export NDJSON', onclick: function () {
              download('/v1/phones?' + exportQ.toString(), 'application/x-ndjson', 'phones.ndjson');
            } })),
          tableWrap(['MAC', 'Model', 'Firmware', { t: 'Version', num: 1 }, 'Config', { t: 'Drifted', num: 1 }, { t: 'Params', num: 1 }, 'Last seen'], list, 'phones-table'),
          h('div', { class: 'pager' }, first, next)]));
    });
  }

  function statusRows(obj, prefix, out) {
    Object.keys(obj).sort().forEach(function (k) {
      var v = obj[k], name = prefix ? prefix + '.' + k : k;
      if (v && typeof v === 'object' && !Array.isArray(v)) statusRows(v, name, out);
      else out.push(h('tr', null, h('td', { class: 'mono', text: name }),
        h('td', { class: 'value', text: typeof v === 'string' ? v : JSON.stringify(v) })));
    });
    return out;
  }

  /* Every change of the phone, oldest first, page after page (the store keeps a bounded
     history per phone: --sink-changes-keep). */
  function allChanges(mac) {
    var out = [];
    function page(after) {
      return api('/v1/phones/' + mac + '/changes?limit=1000' + (after ? '&after=' + after : '')).then(function (r) {
        out = out.concat(r.changes);
        return r.next && out.length < 20000 ? page(r.next) : out;
      });
    }
    return page(0);
  }

  function phone(view, mac) {
    var notFound = function (e) { if (e.status === 404) return null; throw e; };
    return Promise.all([
      api('/v1/phones/' + enc(mac)),
      api('/v1/phones/' + enc(mac) + '/config'),
      api('/v1/phones/' + enc(mac) + '/status').catch(notFound),
      allChanges(enc(mac)),
      api('/v1/drift?limit=1000&mac=' + enc(mac))
    ]).then(function (r) {
      var p = r[0], cfg = r[1], st = r[2], changes = r[3], drift = r[4].drift;
      mac = p.mac;
      var drifted = new Map();
      drift.forEach(function (d) { drifted.set(d.param, d); });
      var summary = h('dl', { class: 'summary', id: 'phone-summary' },
        h('dt', { text: 'Model' }), h('dd', { text: p.model || '—' }),
        h('dt', { text: 'Firmware' }), h('dd', { text: p.firmware || '—' }),
        h('dt', { text: 'Configuration' }), h('dd', null, 'version ' + p.version + ' · ',
          p.complete ? h('span', { class: 'badge ok', text: 'full' }) : h('span', { class: 'badge', text: 'partial: no full report yet' }),
          ' · ' + p.params + ' parameters'),
        h('dt', { text: 'Last seen' }), h('dd', { id: 'last-seen' }, when(lastSeen(p)), ' ', h('span', { class: 'muted', text: lastSeen(p) || '' })),
        h('dt', { text: 'Last configuration' }), h('dd', null, when(p.updated_at)),
        h('dt', { text: 'Last status' }), h('dd', null, when(p.status_at)),
        h('dt', { text: 'First seen' }), h('dd', null, when(p.first_seen)),
        h('dt', { text: 'Last report' }), h('dd', { class: 'mono', text: p.report_id || '—' }));
      var filter = h('input', { id: 'config-filter', placeholder: 'filter by name or value', 'aria-label': 'filter the configuration' });
      var names = Object.keys(cfg.params).sort();
      var rows = names.map(function (n) {
        var d = drifted.get(n);
        return h('tr', { class: d ? 'drifted' : null, data: { param: n } },
          h('td', { class: 'mono', text: n }), h('td', { class: 'value', text: cfg.params[n] }),
          h('td', { text: own(cfg.access, n) || '' }),
          h('td', { class: 'value', text: d ? 'intended: ' + (d.intended === null ? '—' : d.intended) : '' }));
      });
      filter.addEventListener('input', function () {
        var f = filter.value.toLowerCase();
        rows.forEach(function (tr) {
          tr.hidden = f && tr.textContent.toLowerCase().indexOf(f) < 0;
        });
      });
      /* the timeline, newest report first */
      var groups = [];
      changes.forEach(function (c) {
        var g = groups.length ? groups[groups.length - 1] : null;
        if (!g || g.version !== c.version || g.report_id !== c.report_id) {
          g = { version: c.version, report_id: c.report_id, at: c.at, via: c.via, items: [] };
          groups.push(g);
        }
        g.items.push(c);
      });
      groups.reverse();
      var timeline = groups.length ? h('ol', { class: 'timeline', id: 'timeline' }, groups.map(function (g) {
        return h('li', { class: 'change-group', data: { version: String(g.version) } },
          h('div', null, h('span', { class: 'when', text: 'version ' + g.version }), ' · ', when(g.at),
            h('span', { class: 'muted', text: ' · ' + (g.via || '') + ' · ' + g.items.length + ' change' + (g.items.length === 1 ? '' : 's') })),
          h('ul', null, g.items.slice(0, 200).map(function (c) {
            return h('li', { class: 'change', data: { param: c.param } },
              h('span', { class: 'mono', text: c.param }), ': ',
              c.old === null ? h('span', { class: 'muted', text: '(new)' }) : h('span', { class: 'old', text: c.old }),
              ' → ',
              c.new === null ? h('span', { class: 'muted', text: '(removed)' }) : h('span', { class: 'new', text: c.new }));
          }), g.items.length > 200 ? h('li', { class: 'muted', text: '… ' + (g.items.length - 200) + ' more' }) : null));
      })) : h('p', { class: 'muted', text: 'No changes recorded.' });
      var driftTable = drift.length ? tableWrap(['Parameter', 'Intended', 'Reported', 'Since'], drift.map(function (d) {
        return h('tr', { class: 'drift-row', data: { param: d.param } },
          h('td', null, h('a', { class: 'mono', href: '#/params/' + enc(d.param), text: d.param })),
          h('td', { class: 'value', text: d.intended === null ? '—' : d.intended }),
          h('td', { class: 'value', text: d.actual === null ? '—' : d.actual }),
          h('td', null, when(d.since)));
      }), 'phone-drift-table') : h('p', { class: 'muted', id: 'no-drift', text: 'No open drift: the phone matches its profile.' });
      view.append(
        h('h1', null, 'Phone ', h('span', { class: 'mono', id: 'phone-mac', text: mac })),
        h('div', { class: 'grid' },
          card('Summary', [summary, h('p', { class: 'actions' },
            h('button', { type: 'button', class: 'secondary', text: 'Download flat profile (XML)', onclick: function () {
              download('/v1/phones/' + mac + '/config?format=xml', null, mac + '.xml');
            } }))]),
          card('Open drift (' + drift.length + ')', driftTable, 'phone-drift')),
        card('Configuration (' + names.length + ' parameters)', [filter, tableWrap(['Name', 'Value', 'Access', 'Drift'], rows, 'config-table')], 'config'),
        h('div', { class: 'grid' },
          card('Latest status' + (st ? ' · ' + ago(st.received_at) : ''), st ? tableWrap(['Field', 'Value'], statusRows(st.status, '', []), 'status-table')
            : h('p', { class: 'muted', text: 'No status report from this phone yet.' }), 'status'),
          card('Change history', timeline, 'history')));
      /* history.js: operations, configuration at a version, diffs, comparison */
      var versions = [p.version];
      groups.forEach(function (g) { versions.push(g.version, g.version - 1); });
      versions = versions.filter(function (v, i) { return v >= 1 && versions.indexOf(v) === i; })
        .sort(function (a, b) { return b - a; });
      if (window.phonereportHistory) {
        window.phonereportHistory({ h: h, api: api, post: post, when: when, card: card,
          tableWrap: tableWrap, enc: enc }, view, p, versions);
      }
    });
  }

  function driftPage(view, q) {
    var after = q.get('after');
    return Promise.all([
      api('/v1/fleet'),
      api('/v1/drift?limit=100' + (after ? '&after=' + enc(after) : ''))
    ]).then(function (r) {
      var f = r[0], d = r[1];
      var rows = d.drift.map(function (x) {
        return h('tr', { class: 'drift-row', data: { mac: x.mac, param: x.param } },
          h('td', null, h('a', { class: 'mono', href: '#/phone/' + x.mac, text: x.mac })),
          h('td', null, h('a', { class: 'mono', href: '#/params/' + enc(x.param), text: x.param })),
          h('td', { class: 'value', text: x.intended === null ? '—' : x.intended }),
          h('td', { class: 'value', text: x.actual === null ? '—' : x.actual }),
          h('td', null, when(x.since)));
      });
      view.append(h('h1', { text: 'Drift across the fleet' }),
        h('div', { class: 'stats' },
          h('a', { class: 'stat warn', href: '#/phones?drifted=true', id: 'drift-phones' }, h('span', { class: 'n', text: String(f.drifted['true']) }), h('span', { class: 'l', text: 'phones drifted' })),
          h('a', { class: 'stat warn', href: '#/drift', id: 'drift-params' }, h('span', { class: 'n', text: String(f.drifted_params) }), h('span', { class: 'l', text: 'drifted parameters' }))),
        card('Most drifted parameters', bars(f.drift_by_param.map(function (x) {
          return { label: x.param, count: x.count, href: '#/params/' + enc(x.param) };
        }), 'chart-drift', true)),
        card('Open drift', [
          rows.length ? tableWrap(['Phone', 'Parameter', 'Intended', 'Reported', 'Since'], rows, 'drift-table')
            : h('p', { class: 'muted', id: 'no-drift', text: 'No open drift.' }),
          h('div', { class: 'pager' },
            after ? h('a', { href: '#/drift', text: '← First page' }) : null,
            d.next ? h('a', { id: 'next-page', href: '#/drift?after=' + enc(d.next), text: 'Next page →' }) : null)]));
    });
  }

  function paramsPage(view, name, q) {
    var input = h('input', { id: 'param-name', name: 'name', value: name, placeholder: 'e.g. Proxy_1_', 'aria-label': 'parameter name' });
    var form = h('form', { class: 'actions', id: 'param-form' }, input, h('button', { type: 'submit', text: 'Show values' }));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (input.value.trim()) location.hash = '#/params/' + enc(input.value.trim());
    });
    view.append(h('h1', { text: name ? 'Parameter ' + name : 'A parameter across the fleet' }), card(null, form));
    if (!name) return Promise.resolve();
    var offset = parseInt(q.get('offset') || '0', 10) || 0;
    return api('/v1/params/' + enc(name) + '?limit=50&offset=' + offset).then(function (r) {
      view.append(card(r.phones + ' phones report it · ' + r.distinct + ' distinct value' + (r.distinct === 1 ? '' : 's') + (r.indexed === false ? ' · counted by a scan (not indexed)' : ''), [
        bars(r.values.map(function (v) {
          var qv = /\*$/.test(v.value) ? v.value.slice(0, -1) + '\\*' : v.value;
          return { label: v.value === '' ? '(empty)' : v.value, count: v.count, href: '#/phones?' + new URLSearchParams([['param.' + r.param, qv]]).toString() };
        }), 'chart-values'),
        h('div', { class: 'pager' },
          offset ? h('a', { href: '#/params/' + enc(name), text: '← Most common' }) : null,
          r.next !== null ? h('a', { id: 'next-page', href: '#/params/' + enc(name) + '?offset=' + r.next, text: 'More values →' }) : null)], 'values'));
    }).catch(function (e) {
      if (e.status === 404) view.append(h('p', { class: 'error', id: 'error', text: e.message }));
      else throw e;
    });
  }

  /* ---- shell ---------------------------------------------------------------------- */

  function showLogin(message) {
    main.replaceChildren();
    nav.hidden = true;
    logout.hidden = true;
    loginBox.hidden = false;
    loginError.hidden = !message;
    loginError.textContent = message || '';
    document.getElementById('token').focus();
  }

  function showError(e) {
    if (e instanceof AuthError) {
      var had = !!token();
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(had ? 'That token was not accepted.' : '');
      return;
    }
    main.replaceChildren(h('p', { class: 'error', id: 'error', text: e.message || String(e) }));
  }

  function render() {
    var seq = ++renderSeq;
    var route = parseHash();
    var page = route.parts[0] || 'overview';
    var view = h('div', { class: 'view', id: 'view-' + page });
    nav.querySelectorAll('a').forEach(function (a) { a.classList.toggle('active', a.dataset.nav === page || (page === 'phone' && a.dataset.nav === 'phones')); });
    var job;
    if (page === 'overview') job = overview(view);
    else if (page === 'phones') job = phones(view, route.query);
    else if (page === 'phone' && route.parts[1]) job = phone(view, decodeURIComponent(route.parts[1]));
    else if (page === 'drift') job = driftPage(view, route.query);
    else if (page === 'params') job = paramsPage(view, route.parts[1] ? decodeURIComponent(route.parts.slice(1).join('/')) : '', route.query);
    else job = Promise.reject(new Error('No such page.'));
    return job.then(function () {
      if (seq !== renderSeq) return;
      loginBox.hidden = true;
      nav.hidden = false;
      logout.hidden = !token();
      main.replaceChildren(view);
      document.title = (view.querySelector('h1') ? view.querySelector('h1').textContent + ' · ' : '') + 'phonereport';
    }).catch(function (e) {
      if (seq === renderSeq) showError(e);
    });
  }

  loginForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = document.getElementById('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById('token').value = '';
    loginBox.hidden = true;
    render();
  });
  logout.addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('Signed out.');
  });
  window.addEventListener('hashchange', render);
  render();
})();
