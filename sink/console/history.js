/*
 * history.js - the phone page's operations and history cards, over the history API:
 *
 *   Operations    remote address, the last report request and resync (remediation), and
 *                 the admin actions "Request a report" (POST .../report-request) and
 *                 "Resync" (POST .../resync); the API's answer is shown as it is
 *   History       a version picker (GET .../config?at=version=N), the diff of two versions
 *                 (GET .../diff?from=&to=) and a comparison with another phone (GET /v1/diff)
 *
 * app.js calls window.phonereportHistory(kit, view, phone, versions) after it drew the page;
 * kit holds its helpers (h, api, post, when, card, tableWrap, enc). Every text from the API
 * goes in through textContent (kit.h), never as HTML.
 */
'use strict';
window.phonereportHistory = function (kit, view, p, versions) {
  var h = kit.h, api = kit.api, enc = kit.enc, mac = p.mac;

  function fail(el) {
    return function (e) { el.replaceChildren(h('p', { class: 'error', text: e.message || String(e) })); };
  }

  function outcome(r) {
    if (!r) return '—';
    if (r.skipped) return 'skipped: ' + r.skipped;
    return (r.outcome || '?') + (r.status ? ' (' + r.status + ')' : '') + (r.trigger ? ' · ' + r.trigger : '');
  }

  /* ---- operations ------------------------------------------------------------------- */
  var rem = p.remediation;
  var actionResult = h('p', { id: 'action-result', class: 'muted', 'aria-live': 'polite' });
  function action(id, label, path) {
    return h('button', { type: 'button', class: 'secondary', id: id, text: label, onclick: function () {
      actionResult.textContent = label + ': sending…';
      kit.post('/v1/phones/' + mac + path).then(function (r) {
        actionResult.textContent = label + ': queued (' + r.status + ')';
        actionResult.className = '';
      }).catch(function (e) {
        actionResult.textContent = label + ': ' + (e.status ? e.status + ' ' : '') + e.message;
        actionResult.className = 'error';
      });
    } });
  }
  var ops = h('dl', { class: 'summary', id: 'phone-ops-list' },
    h('dt', { text: 'Remote address' }), h('dd', { class: 'mono', id: 'phone-remote', text: p.remote || '—' }),
    h('dt', { text: 'Last report request' }), h('dd', { id: 'phone-report-request' },
      p.report_requested_at ? kit.when(p.report_requested_at) : '', ' ', outcome(p.report_request)),
    h('dt', { text: 'Last resync' }), h('dd', { id: 'phone-remediation', data: { drift: rem ? rem.drift : '' } },
      rem ? kit.when(rem.attempted_at) : '', ' ', rem ? outcome(rem) + ' · drift ' + rem.drift : 'never asked'));

  /* ---- history ------------------------------------------------------------------------ */
  function option(v, selected) {
    return h('option', { value: String(v), selected: v === selected, text: 'version ' + v + (v === p.version ? ' (current)' : '') });
  }
  function picker(id, selected) {
    return h('select', { id: id, 'aria-label': id.replace(/-/g, ' ') }, versions.map(function (v) { return option(v, selected); }));
  }
  var shown = h('div', { id: 'version-config' });
  var pick = picker('version-picker', p.version);
  function showVersion() {
    var v = pick.value;
    api('/v1/phones/' + mac + '/config?at=version=' + v).then(function (c) {
      var names = Object.keys(c.params).sort();
      shown.replaceChildren(
        h('p', { class: 'muted', id: 'version-shown', data: { version: String(c.version) } },
          'version ' + c.version + ' · ' + names.length + ' parameters' + (c.valid_until ? ' · until ' + c.valid_until : ' · current')),
        kit.tableWrap(['Name', 'Value'], names.map(function (n) {
          return h('tr', { data: { param: n } }, h('td', { class: 'mono', text: n }), h('td', { class: 'value', text: c.params[n] }));
        }), 'version-config-table'));
    }).catch(fail(shown));
  }
  pick.addEventListener('change', showVersion);

  function diffTable(rows, id, rowClass, head) {
    if (!rows.length) return h('p', { class: 'muted', id: id + '-empty', text: 'No differences.' });
    return kit.tableWrap(head, rows.map(function (r) {
      return h('tr', { class: rowClass + ' ' + r.change, data: { param: r.name, change: r.change } },
        h('td', { text: r.change }), h('td', { class: 'mono', text: r.name }),
        h('td', { class: 'value old', text: r.old === null ? '—' : r.old }),
        h('td', { class: 'value new', text: r['new'] === null ? '—' : r['new'] }));
    }), id);
  }
  function rowsOf(d) {
    var out = [];
    ['changed', 'added', 'removed', 'same'].forEach(function (k) {
      (d[k] || []).forEach(function (r) { r.change = k; out.push(r); });
    });
    return out.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
  }
  var from = picker('diff-from', versions.length > 1 ? versions[1] : p.version);
  var to = picker('diff-to', p.version);
  var diffOut = h('div', { id: 'version-diff' });
  var diffBtn = h('button', { type: 'button', id: 'diff-show', text: 'Show the diff', onclick: function () {
    api('/v1/phones/' + mac + '/diff?from=version=' + from.value + '&to=version=' + to.value).then(function (d) {
      diffOut.replaceChildren(diffTable(rowsOf(d), 'version-diff-table', 'diff-row',
        ['Change', 'Name', 'version ' + from.value, 'version ' + to.value]));
    }).catch(fail(diffOut));
  } });

  var other = h('input', { id: 'compare-mac', placeholder: 'another phone, e.g. 00562b043616', 'aria-label': 'compare with another phone' });
  var cmpOut = h('div', { id: 'compare' });
  var cmpForm = h('form', { class: 'actions', id: 'compare-form' }, other,
    h('button', { type: 'submit', id: 'compare-show', text: 'Compare' }));
  cmpForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var b = other.value.trim();
    if (!b) return;
    api('/v1/diff?a=' + enc(mac) + '&b=' + enc(b)).then(function (d) {
      cmpOut.replaceChildren(diffTable(rowsOf(d), 'compare-table', 'compare-row',
        ['Change', 'Name', mac, d.b.mac]));
    }).catch(fail(cmpOut));
  });

  view.append(h('div', { class: 'grid' },
    kit.card('Operations', [ops, h('p', { class: 'actions' },
      action('request-report', 'Request a report', '/report-request'),
      action('resync', 'Resync', '/resync')), actionResult], 'phone-ops'),
    kit.card('Configuration at a version', [h('p', { class: 'actions' }, pick), shown], 'phone-history')),
  h('div', { class: 'grid' },
    kit.card('Diff of two versions', [h('p', { class: 'actions' }, from, ' → ', to, diffBtn), diffOut], 'phone-diff'),
    kit.card('Compare with another phone', [cmpForm, cmpOut], 'phone-compare')));
  showVersion();
};
