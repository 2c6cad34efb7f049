// Flashwire newsroom analytics (/newsroom): per-alert figures (funnel by push service, click-
// through rate, time to device against the "90 % in 2 minutes" target, acceptance latency),
// followed live over the alert's event stream while it sends; CSV export; the readers' opt-in
// funnel; and, for tokens with tokens:admin, the audit log.
//
// Runs beside newsroom.js under the same strict Content-Security-Policy: no inline script or
// style, no third-party requests; charts are SVG drawn here. It reads the editor token newsroom.js
// keeps in this tab's sessionStorage and sends it only as "Authorization: Bearer …" to this
// site's /api/newsroom/. The alert stream is read with fetch (which can send that header) rather
// than EventSource (which cannot): the token never goes into a URL.
(() => {
  'use strict';

  const TOKEN_KEY = 'flashwire.newsroom.token';
  const SVG = 'http://www.w3.org/2000/svg';
  const AUDIT_PAGE = 20;
  const desk = document.querySelector('[data-nr-desk]');
  if (!desk) return;

  const state = {
    section: null,
    alertId: 0,
    stream: null, // AbortController of the open alert stream
    retry: 0, // reconnect timer
    audit: [],
    auditPage: 0,
    auditMore: false, // the server has older entries than those loaded
  };

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, children = []) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    for (const child of children) node.append(child);
    return node;
  }

  async function api(path, { accept = 'application/json', signal } = {}) {
    const response = await fetch(`/api/newsroom/${path}`, {
      headers: { Authorization: `Bearer ${token()}`, Accept: accept },
      cache: 'no-store',
      signal,
    });
    if (!response.ok) {
      const error = new Error(`HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return accept === 'application/json' ? response.json() : response.blob();
  }

  const number = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString());
  const percent = (share) => (share === null || share === undefined ? '–' : `${(share * 100).toFixed(1)} %`);
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
    return `${(ms / 60000).toFixed(1)} min`;
  }
  function bucketLabel(le) {
    return le === null ? 'later' : `≤ ${duration(le)}`;
  }

  // A horizontal bar chart: one labelled bar per row, widths relative to the largest value.
  // `rows`: [{ label, value, note }]. The SVG is hidden from assistive technology
  // (aria-hidden): every chart's figures are also in a table next to it.
  function barChart(rows, { className = '' } = {}) {
    const rowHeight = 26;
    const labelWidth = 110;
    const width = 420;
    const max = Math.max(1, ...rows.map((row) => row.value));
    const chart = svg('svg', {
      class: `nr-chart ${className}`,
      viewBox: `0 0 ${width} ${rows.length * rowHeight + 4}`,
      'aria-hidden': 'true',
      focusable: 'false',
    });
    rows.forEach((row, i) => {
      const y = i * rowHeight + 2;
      const barWidth = Math.round(((width - labelWidth - 60) * row.value) / max);
      chart.append(
        svg('text', { x: 0, y: y + 17, class: 'nr-chart-label' }, [document.createTextNode(row.label)]),
        svg('rect', { x: labelWidth, y: y + 4, width: Math.max(barWidth, row.value > 0 ? 2 : 0), height: rowHeight - 10, class: 'nr-chart-bar', rx: 2 }),
        svg('text', { x: labelWidth + barWidth + 6, y: y + 17, class: 'nr-chart-value' }, [document.createTextNode(row.note ?? number(row.value))]),
      );
    });
    return chart;
  }

  // A table of the same figures, for reading and for assistive technology.
  // Wrapped so that a wide table scrolls inside the panel on a phone, not the page.
  function figureTable(caption, head, rows) {
    return make('div', { class: 'nr-table-wrap' }, [make('table', { class: 'nr-table' }, [
      make('caption', { text: caption }),
      make('thead', {}, [make('tr', {}, head.map((text) => make('th', { scope: 'col', text })))]),
      make('tbody', {}, rows.map((cells) => make('tr', {}, cells.map((text, i) => (i === 0 ? make('th', { scope: 'row', text }) : make('td', { text })))))),
    ])]);
  }

  // ---- the section ----

  function build() {
    const section = make('section', { class: 'panel nr-analytics', 'aria-labelledby': 'nr-analytics-title', 'data-nr-analytics': true });
    section.append(
      make('div', { class: 'panel-head' }, [make('h2', { class: 'panel-title', id: 'nr-analytics-title', text: 'Analytics' })]),
      make('p', { class: 'nr-hint', text: 'How fast and how far each alert went. Figures update live while an alert is sending.' }),
    );
    const pick = make('div', { class: 'nr-analytics-pick' }, [
      make('label', { for: 'nr-analytics-alert', text: 'Alert' }),
      make('select', { id: 'nr-analytics-alert', 'data-nr-analytics-alert': true }),
      make('button', { type: 'button', class: 'button button-secondary button-small', 'data-nr-analytics-csv': true, text: 'Download CSV' }),
    ]);
    section.append(
      pick,
      make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-nr-analytics-status': true }),
      make('div', { class: 'nr-analytics-body', 'data-nr-analytics-body': true }),
    );

    const optin = make('section', { class: 'panel nr-optin', 'aria-labelledby': 'nr-optin-title', 'data-nr-optin': true }, [
      make('div', { class: 'panel-head' }, [make('h2', { class: 'panel-title', id: 'nr-optin-title', text: 'Opt-in funnel' })]),
      make('p', { class: 'nr-hint', text: 'Readers asked to turn on alerts, by category and page type: card shown, clicked, permission granted or denied, subscribed; and unsubscribes. Counted per day from the site’s own pages; nothing about any reader is kept.' }),
      make('div', { class: 'nr-analytics-pick' }, [
        make('label', { for: 'nr-optin-days', text: 'Period' }),
        make('select', { id: 'nr-optin-days', 'data-nr-optin-days': true }, [
          make('option', { value: '7', text: 'Last 7 days' }),
          make('option', { value: '30', text: 'Last 30 days', selected: true }),
          make('option', { value: '90', text: 'Last 90 days' }),
        ]),
      ]),
      make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-nr-optin-status': true }),
      make('div', { 'data-nr-optin-body': true }),
    ]);

    const audit = make('section', { class: 'panel nr-audit', 'aria-labelledby': 'nr-audit-title', 'data-nr-audit': true, hidden: true }, [
      make('div', { class: 'panel-head' }, [make('h2', { class: 'panel-title', id: 'nr-audit-title', text: 'Audit log' })]),
      make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-nr-audit-status': true }),
      make('div', { 'data-nr-audit-body': true }),
      make('div', { class: 'nr-pager' }, [
        make('button', { type: 'button', class: 'button button-secondary button-small', 'data-nr-audit-newer': true, text: 'Newer' }),
        make('span', { 'data-nr-audit-page': true }),
        make('button', { type: 'button', class: 'button button-secondary button-small', 'data-nr-audit-older': true, text: 'Older' }),
      ]),
    ]);

    const wrap = make('div', { class: 'nr-analytics-wrap' }, [section, optin, audit]);
    desk.append(wrap);
    state.section = wrap; // $ looks within it
    $('[data-nr-analytics-alert]').addEventListener('change', (event) => watch(Number(event.target.value)));
    $('[data-nr-analytics-csv]').addEventListener('click', downloadCsv);
    $('[data-nr-optin-days]').addEventListener('change', loadOptin);
    $('[data-nr-audit-newer]').addEventListener('click', () => showAudit(state.auditPage - 1));
    $('[data-nr-audit-older]').addEventListener('click', olderAudit);
    return wrap;
  }

  const $ = (selector) => state.section.querySelector(selector);
  function status(selector, message, error = false) {
    const node = $(selector);
    node.textContent = message;
    node.classList.toggle('status-error', error);
  }

  // ---- per-alert figures ----

  async function loadAlertList() {
    let list;
    try {
      list = (await api('alerts')).alerts;
    } catch (error) {
      status('[data-nr-analytics-status]', error.status === 403 ? 'This token cannot see alerts (it lacks alerts:send).' : 'Could not load the alerts. Try again shortly.', true);
      return;
    }
    const select = $('[data-nr-analytics-alert]');
    const keep = state.alertId;
    select.replaceChildren(...list.map((alert) => make('option', { value: String(alert.id), text: `#${alert.id} ${alert.title} (${alert.status})` })));
    if (!list.length) {
      status('[data-nr-analytics-status]', 'No alerts yet: figures appear here once an alert is sent.');
      $('[data-nr-analytics-body]').replaceChildren();
      return;
    }
    const chosen = list.some((alert) => alert.id === keep) ? keep : list[0].id;
    select.value = String(chosen);
    if (chosen !== state.alertId) watch(chosen);
  }

  function stopStream() {
    clearTimeout(state.retry);
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  // Follows one alert over GET /api/newsroom/alerts/{id}/events (Server-Sent Events read from a
  // fetch body); reconnects after a pause when the connection ends while the page is open.
  async function watch(id) {
    stopStream();
    state.alertId = id;
    if (!id) return;
    const controller = new AbortController();
    state.stream = controller;
    let response;
    try {
      response = await fetch(`/api/newsroom/alerts/${id}/events`, {
        headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch {
      if (!controller.signal.aborted) reconnect(id);
      return;
    }
    if (!response.ok) {
      status('[data-nr-analytics-status]', response.status === 404 ? 'This alert no longer exists.' : `The figures could not be loaded (HTTP ${response.status}).`, true);
      if (response.status >= 500) reconnect(id);
      return;
    }
    status('[data-nr-analytics-status]', 'Live: figures update as readers’ devices report.');
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
          if (lines.includes('event: alert') && data) render(JSON.parse(data));
        }
      }
    } catch {
      // aborted or cut: handled below
    }
    if (!controller.signal.aborted) reconnect(id);
  }

  function reconnect(id) {
    status('[data-nr-analytics-status]', 'Connection lost; reconnecting…');
    state.stream = null; // a hidden tab reconnects when shown again (visibilitychange)
    clearTimeout(state.retry);
    state.retry = setTimeout(() => {
      if (state.alertId === id && !document.hidden) watch(id);
    }, 3000);
  }

  function render(alert) {
    const body = $('[data-nr-analytics-body]');
    const f = alert.funnel;
    const t = alert.time_to_device;
    const d = alert.delivery;
    const target = make('p', { class: `nr-target ${t.target_met === true ? 'nr-target-met' : t.target_met === false ? 'nr-target-missed' : ''}`, 'data-nr-target': true });
    target.textContent =
      t.within_120s === null
        ? 'Time to device: no device has reported yet.'
        : `${t.target_met ? 'Target met' : 'Target not met'}: ${percent(t.within_120s)} of ${number(t.devices)} devices within 2 minutes (target 90 %).`;

    const funnelRows = [
      { label: 'Targeted', value: f.targeted },
      { label: 'Accepted', value: f.accepted },
      { label: 'Received', value: f.received },
      { label: 'Displayed', value: f.displayed },
      { label: 'Clicked', value: f.clicked },
    ];
    const services = ['fcm', 'mozilla', 'apple', 'own', 'other'];
    const serviceNames = { fcm: 'FCM (Chrome)', mozilla: 'Mozilla', apple: 'Apple', own: 'Own service', other: 'Other' };
    const ttdRows = t.histogram.map((bucket) => ({ label: bucketLabel(bucket.le_ms), value: bucket.count }));
    const latencyRows = d ? d.accept_latency.map((bucket) => ({ label: bucketLabel(bucket.le_ms), value: bucket.count })) : [];

    body.replaceChildren(
      make('h3', { class: 'nr-analytics-title', text: alert.title }),
      target,
      make('dl', { class: 'nr-figures' }, [
        make('dt', { text: 'Median' }), make('dd', { 'data-nr-p50': true, text: duration(t.p50_ms) }),
        make('dt', { text: '90th percentile' }), make('dd', { text: duration(t.p90_ms) }),
        make('dt', { text: '99th percentile' }), make('dd', { text: duration(t.p99_ms) }),
        make('dt', { text: 'Click-through' }), make('dd', { text: percent(alert.click_through_rate) }),
        make('dt', { text: 'Delivery' }), make('dd', { text: d ? `${d.state}${d.time_to_last_accept_ms !== null ? `, last accepted after ${duration(d.time_to_last_accept_ms)}` : ''}` : 'not sent' }),
      ]),
      make('div', { class: 'nr-chart-grid' }, [
        make('figure', { class: 'nr-figure' }, [make('figcaption', { text: 'Funnel' }), barChart(funnelRows)]),
        make('figure', { class: 'nr-figure' }, [make('figcaption', { text: 'Time to device' }), barChart(ttdRows, { className: 'nr-chart-ttd' })]),
        make('figure', { class: 'nr-figure' }, [make('figcaption', { text: 'Accepted by push services after' }), latencyRows.length ? barChart(latencyRows, { className: 'nr-chart-latency' }) : make('p', { text: 'Not sent yet.' })]),
      ]),
      // Targeted and accepted are null ("–") for alerts sent before the server kept them per service.
      figureTable('By push service', ['Service', 'Targeted', 'Accepted', 'Received', 'Displayed', 'Clicked'],
        services.map((s) => [serviceNames[s], number(alert.by_service[s].targeted), number(alert.by_service[s].accepted),
          number(alert.by_service[s].received), number(alert.by_service[s].displayed), number(alert.by_service[s].clicked)])),
      figureTable('Funnel', ['Step', 'Devices'], funnelRows.map((row) => [row.label, number(row.value)])),
      make('details', { class: 'nr-details' }, [
        make('summary', { text: 'Time to device and acceptance, bucket by bucket' }),
        figureTable('Time to device', ['Within', 'Devices'], ttdRows.map((row) => [row.label, number(row.value)])),
        ...(latencyRows.length ? [figureTable('Accepted by push services after', ['Within', 'Messages'], latencyRows.map((row) => [row.label, number(row.value)]))] : []),
      ]),
    );
  }

  async function downloadCsv() {
    if (!state.alertId) return;
    try {
      const blob = await api(`alerts/${state.alertId}/analytics.csv`, { accept: 'text/csv' });
      const url = URL.createObjectURL(blob);
      const link = make('a', { href: url, download: `alert-${state.alertId}-analytics.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch {
      status('[data-nr-analytics-status]', 'The CSV could not be made. Try again shortly.', true);
    }
  }

  // ---- opt-in funnel ----

  async function loadOptin() {
    const days = $('[data-nr-optin-days]').value;
    let data;
    try {
      data = await api(`optin?days=${days}`);
    } catch (error) {
      status('[data-nr-optin-status]', error.status === 403 ? 'This token cannot see the opt-in funnel (it lacks alerts:send).' : 'Could not load the opt-in funnel.', true);
      return;
    }
    const steps = ['shown', 'clicked', 'granted', 'denied', 'subscribed', 'unsubscribed'];
    const groups = new Map();
    for (const row of data.days) {
      const key = `${row.category} · ${row.page}`;
      const sum = groups.get(key) || Object.fromEntries(steps.map((s) => [s, 0]));
      for (const s of steps) sum[s] += row[s];
      groups.set(key, sum);
    }
    const byDay = new Map();
    for (const row of data.days) byDay.set(row.day, (byDay.get(row.day) || 0) + row.unsubscribed);
    const tot = data.totals;
    status('[data-nr-optin-status]', data.days.length ? `Since ${data.from}.` : `No opt-in activity since ${data.from}.`);
    $('[data-nr-optin-body]').replaceChildren(
      make('figure', { class: 'nr-figure' }, [
        make('figcaption', { text: 'All pages' }),
        barChart([
          { label: 'Card shown', value: tot.shown },
          { label: 'Clicked', value: tot.clicked },
          { label: 'Granted', value: tot.granted },
          { label: 'Denied', value: tot.denied },
          { label: 'Subscribed', value: tot.subscribed },
          { label: 'Unsubscribed', value: tot.unsubscribed },
        ]),
      ]),
      figureTable('By category and page type', ['Category · page', 'Shown', 'Clicked', 'Granted', 'Denied', 'Subscribed', 'Unsubscribed'],
        [...groups].map(([key, sum]) => [key, ...steps.map((s) => number(sum[s]))])),
      figureTable('Unsubscribes by day', ['Day', 'Unsubscribes'], [...byDay].map(([day, n]) => [day, number(n)])),
    );
  }

  // ---- audit log (tokens:admin) ----

  // The API answers 100 entries at a time, newest first; ?before=<id> the next 100.
  const AUDIT_BATCH = 100;

  async function loadAudit() {
    try {
      state.audit = (await api('audit')).entries;
    } catch {
      $('[data-nr-audit]').hidden = true; // without tokens:admin the log is not this editor's
      return;
    }
    state.auditMore = state.audit.length === AUDIT_BATCH;
    $('[data-nr-audit]').hidden = false;
    showAudit(0);
  }

  async function olderAudit() {
    const wanted = state.auditPage + 1;
    if (wanted * AUDIT_PAGE >= state.audit.length && state.auditMore) {
      try {
        const older = (await api(`audit?before=${state.audit[state.audit.length - 1].id}`)).entries;
        state.audit.push(...older);
        state.auditMore = older.length === AUDIT_BATCH;
      } catch {
        status('[data-nr-audit-status]', 'Could not load older entries. Try again shortly.', true);
        return;
      }
    }
    showAudit(wanted);
  }

  function showAudit(page) {
    const pages = Math.max(1, Math.ceil(state.audit.length / AUDIT_PAGE));
    state.auditPage = Math.min(Math.max(0, page), pages - 1);
    const entries = state.audit.slice(state.auditPage * AUDIT_PAGE, (state.auditPage + 1) * AUDIT_PAGE);
    status('[data-nr-audit-status]', state.audit.length ? '' : 'Nothing recorded yet.');
    $('[data-nr-audit-body]').replaceChildren(
      figureTable('Recent changes, newest first', ['When', 'Who', 'Action', 'Detail'],
        entries.map((e) => [new Date(e.at * 1000).toLocaleString(), e.actor, e.action, e.detail])),
    );
    $('[data-nr-audit-page]').textContent = `Page ${state.auditPage + 1} of ${pages}${state.auditMore ? '+' : ''}`;
    $('[data-nr-audit-newer]').disabled = state.auditPage === 0;
    $('[data-nr-audit-older]').disabled = state.auditPage >= pages - 1 && !state.auditMore;
  }

  // ---- life cycle: follows newsroom.js signing in and out ----

  function start() {
    if (!state.section) state.section = build();
    state.section.hidden = false;
    loadAlertList();
    loadOptin();
    loadAudit();
  }

  function stop() {
    stopStream();
    state.alertId = 0;
    if (state.section) {
      state.section.remove();
      state.section = null;
    }
  }

  const signedIn = () => !desk.hidden && token() !== '';
  new MutationObserver(() => (signedIn() ? start() : stop())).observe(desk, { attributes: true, attributeFilter: ['hidden'] });
  // A sent or composed alert shows up in newsroom.js's list: refresh the choice of alerts.
  const alertList = document.querySelector('[data-nr-alerts]');
  let listTimer = 0;
  if (alertList) {
    new MutationObserver(() => {
      clearTimeout(listTimer);
      listTimer = setTimeout(() => state.section && loadAlertList(), 500);
    }).observe(alertList, { childList: true });
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.section && state.alertId && !state.stream) watch(state.alertId);
  });
  if (signedIn()) start();
})();
