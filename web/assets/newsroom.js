// Flashwire newsroom: the editors' UI at /newsroom, on the newsroom JSON API
// (src/newsroom/newsroom_api.h). Sign in with an editor token; write, save and publish
// articles; compose an alert from one, see its audience, then confirm or cancel it; follow the
// alerts' status, delivery and engagement.
//
// Plain modern JavaScript, no dependencies, no build step, compatible with the site's strict
// Content-Security-Policy (no eval, no inline handlers or styles). The token is kept in
// sessionStorage only (this tab, until sign-out or the tab closes), never in storage that
// outlives the tab nor in a cookie, and is sent only as "Authorization: Bearer …" to
// /api/newsroom/ on this origin (credentials: 'omit': no cookies go along). Text
// from the API always goes into the page as text (textContent), never as HTML.
'use strict';

(() => {
  const API = '/api/newsroom/';
  const TOKEN_KEY = 'flashwire.newsroom.token';
  // Ids of the articles created in this tab. The API lists published articles only, so a draft
  // would otherwise drop out of the list on the next load.
  const CREATED_KEY = 'flashwire.newsroom.created';
  const TOKEN_PATTERN = /^fw_[A-Za-z0-9_-]{43}$/;
  const POLL_MS = 3000; // the alerts list refreshes this often while an alert is sending

  const CATEGORY_LABELS = {
    breaking: 'Breaking news',
    live: 'Live events',
    exclusive: 'Exclusive reporting',
  };
  // The API's defaults (newsroom_api.cc), shown before composing.
  const DEFAULT_TTL = { breaking: 3600, live: 900, exclusive: 86400 };
  const ENGAGEMENT = [
    ['received', 'Received'],
    ['displayed', 'Displayed'],
    ['clicked', 'Clicked'],
    ['dismissed', 'Dismissed'],
  ];
  // Added by the fan-out engine to each alert as "delivery"; absent until it runs.
  const DELIVERY = [
    ['targeted', 'Targeted'],
    ['sent', 'Sent'],
    ['gone', 'Gone'],
    ['failed', 'Failed'],
    ['retried', 'Retried'],
    ['pending', 'Pending'],
  ];
  const ARTICLE_FIELDS = [
    'headline', 'slug', 'standfirst', 'byline', 'dateline', 'category', 'image_url', 'image_alt',
    'video_url', 'body_markdown',
  ];

  const root = document.querySelector('[data-newsroom]');
  if (!root) return;

  const $ = (selector, within = root) => within.querySelector(selector);
  const el = {
    announce: $('[data-nr-announce]'),
    signin: $('[data-nr-signin]'),
    signinForm: $('[data-nr-signin-form]'),
    desk: $('[data-nr-desk]'),
    session: $('[data-nr-session]'),
    signout: $('[data-nr-signout]'),
    articlesPanel: $('[data-nr-articles-panel]'),
    articles: $('[data-nr-articles]'),
    newArticle: $('[data-nr-new-article]'),
    editorPanel: $('[data-nr-editor-panel]'),
    editorTitle: $('[data-nr-editor-title]'),
    articleForm: $('[data-nr-article-form]'),
    save: $('[data-nr-save]'),
    publish: $('[data-nr-publish]'),
    composePanel: $('[data-nr-compose-panel]'),
    composeTitle: $('#nr-compose-title'),
    composeSource: $('[data-nr-compose-source]'),
    alertForm: $('[data-nr-alert-form]'),
    compose: $('[data-nr-compose]'),
    composeClear: $('[data-nr-compose-clear]'),
    audience: $('[data-nr-audience]'),
    confirm: $('[data-nr-confirm]'),
    confirmTitle: $('[data-nr-confirm-title]'),
    confirmSummary: $('[data-nr-confirm-summary]'),
    confirmSend: $('[data-nr-confirm-send]'),
    confirmCancel: $('[data-nr-confirm-cancel]'),
    alertsPanel: $('[data-nr-alerts-panel]'),
    alerts: $('[data-nr-alerts]'),
    refreshAlerts: $('[data-nr-refresh-alerts]'),
    polling: $('[data-nr-polling]'),
  };
  const baseUrl = (root.dataset.baseUrl || window.location.origin).replace(/\/+$/, '');
  const composeSourceHint = el.composeSource.textContent;
  // Preview, "send later" and guardrail wording (newsroom-compose.js); absent: none of them.
  const FC = window.FlashwireCompose || null;
  if (FC) FC.addSendAtField(el.alertForm);
  // An override covers the text the editor saw refused; any change asks again.
  el.alertForm.addEventListener('input', () => {
    state.forceCompose = false;
  });

  function freshState() {
    return {
      token: '',
      signedIn: false,
      can: { articles: false, alerts: false },
      articles: new Map(), // id → article, as the API returns it
      editing: null, // the article in the editor; null: a new one
      slugTouched: false,
      composeArticle: null, // the article the alert is composed from
      ttlTouched: false,
      pending: null, // a composed draft waiting for Confirm / Cancel: {id, audience, summary, alert, force}
      forceCompose: false, // the editor chose to override the last compose refusal
      stopAsked: 0, // the sending alert whose "Stop sending" waits for a second click
      alerts: [],
      alertsVersion: 0, // bumped by local changes, so an older list answer cannot undo them
      pollTimer: 0,
    };
  }
  let state = freshState();

  // ---- small helpers ----

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const hiddenText = (text) => make('span', { class: 'visually-hidden', text });

  function setStatus(node, message, { error = false, focus = false, link = null } = {}) {
    node.textContent = message;
    node.classList.toggle('status-error', error);
    if (link) node.append(' ', make('a', { href: link.href, text: link.text }));
    if (focus && message) node.focus();
  }

  function announce(message) {
    setStatus(el.announce, message);
  }

  const formStatus = (form) => $('[data-nr-form-status]', form);
  const panelStatus = (panel) => $('[data-nr-panel-status]', panel);

  function readers(n) {
    const count = Number(n) || 0;
    return `${count.toLocaleString('en')} ${count === 1 ? 'reader' : 'readers'}`;
  }

  // At most `max` characters (code points, as the API counts them).
  function clip(text, max) {
    return Array.from(text || '').slice(0, max).join('');
  }

  function slugify(text) {
    return clip(
      text
        .normalize('NFKD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, ''),
      120,
    ).replace(/-+$/, '');
  }

  function ttlText(seconds) {
    const s = Number(seconds) || 0;
    if (s === 0) return 'now or never';
    const units = [
      [604800, 'week'],
      [86400, 'day'],
      [3600, 'hour'],
      [60, 'minute'],
    ];
    for (const [size, name] of units) {
      if (s % size === 0) return `${s / size} ${name}${s / size === 1 ? '' : 's'}`;
    }
    return `${s} seconds`;
  }

  const TIME_FORMAT = new Intl.DateTimeFormat('en-GB', {
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });

  function timeElement(unixSeconds) {
    if (!unixSeconds) return null;
    const at = new Date(unixSeconds * 1000);
    return make('time', { datetime: at.toISOString(), text: TIME_FORMAT.format(at) });
  }

  function labelOf(control) {
    const label = control.labels && control.labels[0];
    return label ? label.firstChild.textContent.trim() : control.name;
  }

  function capitalize(text) {
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  function readSession(key) {
    try {
      return sessionStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function writeSession(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch {
      // Storage refused (private mode quota): the session then lasts until a reload.
    }
  }

  function createdIds() {
    try {
      const ids = JSON.parse(readSession(CREATED_KEY) || '[]');
      return Array.isArray(ids) ? ids.filter(Number.isInteger) : [];
    } catch {
      return [];
    }
  }

  function rememberCreated(id) {
    const ids = createdIds();
    if (!ids.includes(id)) ids.push(id);
    writeSession(CREATED_KEY, JSON.stringify(ids.slice(-50)));
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, code, message, retryAfter = 0) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch {
      throw new ApiError(0, 'network', 'The site could not be reached. Check the connection and try again.');
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.ok) return data || {};
    const error = new ApiError(
      response.status,
      (data && data.error) || `http_${response.status}`,
      (data && data.message) || `the site answered ${response.status}`,
      Number(response.headers.get('Retry-After')) || 0,
    );
    // A token revoked in the middle of a session: back to the sign-in form.
    if (response.status === 401 && state.signedIn) {
      signOut('The site no longer accepts your token (it may have been revoked). Sign in again.');
    }
    throw error;
  }

  function missingScope(error) {
    const match = /scope (\S+)/.exec(error.message);
    return match ? match[1] : 'it needs';
  }

  // One sentence for the editor about what went wrong while trying to `doing`.
  function explain(error, doing) {
    switch (error.status) {
      case 0:
        return error.message;
      case 401:
        return 'The site did not accept the token: it is unknown, revoked or mistyped.';
      case 403:
        if (error.code === 'insufficient_scope') {
          const scope = missingScope(error);
          return `Your token lacks the scope ${scope}, so it cannot ${doing}. Ask for a token with ${scope}.`;
        }
        break;
      case 429:
        return `Too many attempts with wrong tokens from this address. Try again in ${error.retryAfter || 60} seconds.`;
      case 503:
        return 'The site’s storage is unavailable right now. Try again in a moment.';
      default:
        break;
    }
    return `Could not ${doing}: ${error.message}.`;
  }

  // ---- forms ----

  function clearErrors(form) {
    for (const line of form.querySelectorAll('.field-error')) {
      line.textContent = '';
      line.hidden = true;
    }
    for (const control of form.querySelectorAll('[aria-invalid]')) {
      control.removeAttribute('aria-invalid');
    }
    setStatus(formStatus(form), '');
  }

  // Shows `message` under the control named `field`; returns the control, or null when the
  // form has no visible control of that name.
  function showFieldError(form, field, message) {
    const control = form.elements.namedItem(field);
    if (!(control instanceof HTMLElement) || control.closest('[hidden]')) return null;
    const line = document.getElementById(`${control.id}-error`);
    if (!line) return null;
    line.textContent = message;
    line.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    return control;
  }

  // The API names the field first: "slug: use 1 to 120 of a-z, 0-9 and -".
  function fieldProblem(error) {
    if (error.status !== 400 && error.status !== 409) return null;
    const match = /^([a-z_]+): ([\s\S]+)$/.exec(error.message);
    return match ? { field: match[1], text: match[2] } : null;
  }

  // After a failed request from `form`: the message goes next to the field it names (which
  // gets focus), or into the form's status line (which gets focus).
  function showFormError(form, error, doing) {
    if (error.status === 401 && !state.signedIn) return; // signed out, with its own message
    const problem = fieldProblem(error);
    const control = problem && showFieldError(form, problem.field, capitalize(problem.text));
    if (control) {
      setStatus(formStatus(form), `Check “${labelOf(control)}”: ${problem.text}.`, { error: true });
      control.focus();
    } else {
      setStatus(formStatus(form), explain(error, doing), { error: true, focus: true });
    }
  }

  function setBusy(form, busy) {
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    for (const button of form.querySelectorAll('button')) button.disabled = busy;
  }

  // ---- signing in and out ----

  async function probe(resource) {
    try {
      return { data: await api('GET', resource) };
    } catch (error) {
      if (error.status === 403) return { denied: error };
      throw error;
    }
  }

  async function signIn(secret, { restoring = false } = {}) {
    const form = el.signinForm;
    const status = formStatus(form);
    state.token = secret;
    setBusy(form, true);
    // Restoring after a reload, the form is not shown: the page-wide status line says it.
    if (restoring) announce('Checking the token kept in this tab…');
    else setStatus(status, 'Signing in…');
    let articles;
    let alerts;
    try {
      // One after the other: a wrong token then costs one failed attempt, not two.
      articles = await probe('articles');
      alerts = await probe('alerts');
    } catch (error) {
      state.token = '';
      writeSession(TOKEN_KEY, null);
      setBusy(form, false);
      announce('');
      showSignIn();
      if (error.status === 401) {
        const message = restoring
          ? 'The token kept in this tab is no longer accepted. Sign in again.'
          : 'This token was not accepted: it is unknown, revoked or mistyped.';
        const control = showFieldError(form, 'token', message);
        setStatus(status, 'Not signed in. Check the token and try again.', { error: true });
        if (!restoring) control.focus();
      } else {
        setStatus(status, explain(error, 'sign in'), { error: true, focus: !restoring });
      }
      return;
    }
    setBusy(form, false);
    if (restoring) announce('');
    writeSession(TOKEN_KEY, secret);
    state.signedIn = true;
    state.can = { articles: !articles.denied, alerts: !alerts.denied };
    form.reset(); // the secret does not stay in the page
    clearErrors(form);
    el.signin.hidden = true;
    el.desk.hidden = false;

    const can = [];
    if (state.can.articles) can.push('write and publish articles');
    if (state.can.alerts) can.push('send alerts');
    el.session.textContent = can.length
      ? `Signed in. This token can ${can.join(' and ')}.`
      : 'Signed in, but this token can neither write articles nor send alerts.';

    applyScopes(articles.denied, alerts.denied);
    openEditor(null, { focus: false });
    resetCompose();
    root.dispatchEvent(new CustomEvent('nr:signed-in', { detail: { can: { ...state.can } } }));
    if (state.can.alerts) {
      state.alerts = alerts.data.alerts || [];
      renderAlerts();
      schedulePoll();
    }
    if (state.can.articles) await loadArticles(articles.data);
    if (!restoring) el.session.focus();
  }

  // Panels the token cannot use say why and stay inert.
  function applyScopes(articlesDenied, alertsDenied) {
    const note = (panel, denied, doing) => {
      setStatus(panelStatus(panel), denied ? explain(denied, doing) : '', { error: Boolean(denied) });
    };
    note(el.articlesPanel, articlesDenied, 'list, write or publish articles');
    note(el.alertsPanel, alertsDenied, 'list or send alerts');
    el.newArticle.hidden = Boolean(articlesDenied);
    el.editorPanel.hidden = Boolean(articlesDenied);
    el.refreshAlerts.hidden = Boolean(alertsDenied);
    el.composePanel.hidden = Boolean(alertsDenied);
  }

  function showSignIn() {
    el.desk.hidden = true;
    el.signin.hidden = false;
  }

  function signOut(message) {
    clearTimeout(state.pollTimer);
    writeSession(TOKEN_KEY, null);
    writeSession(CREATED_KEY, null);
    state = freshState();
    el.articles.replaceChildren();
    el.alerts.replaceChildren();
    for (const form of [el.articleForm, el.alertForm, el.signinForm]) {
      form.reset();
      clearErrors(form);
      setBusy(form, false);
    }
    hideConfirm();
    applyScopes(null, null);
    el.session.textContent = '';
    el.audience.textContent = '';
    el.polling.hidden = true;
    showSignIn();
    announce(message);
    root.dispatchEvent(new CustomEvent('nr:signed-out'));
    el.signinForm.elements.token.focus();
  }

  function onSignInSubmit(event) {
    event.preventDefault();
    const form = el.signinForm;
    clearErrors(form);
    const input = form.elements.token;
    const secret = input.value.trim();
    let problem = '';
    if (!secret) problem = 'Enter your editor token.';
    else if (!TOKEN_PATTERN.test(secret)) {
      problem = 'An editor token is fw_ followed by 43 letters, digits, - or _. Check that all of it was pasted.';
    }
    if (problem) {
      showFieldError(form, 'token', problem);
      setStatus(formStatus(form), 'Not signed in. Check the token and try again.', { error: true });
      input.focus();
      return;
    }
    announce('');
    signIn(secret);
  }

  // ---- articles ----

  async function loadArticles(listed) {
    const status = panelStatus(el.articlesPanel);
    try {
      const data = listed || (await api('GET', 'articles'));
      const articles = new Map();
      for (const article of data.articles || []) articles.set(article.id, article);
      // Every draft of the desk, whoever wrote it and wherever.
      const drafts = await api('GET', 'articles?status=draft');
      for (const article of drafts.articles || []) articles.set(article.id, article);
      for (const id of createdIds()) {
        if (articles.has(id)) continue;
        try {
          articles.set(id, await api('GET', `articles/${id}`));
        } catch (error) {
          if (error.status !== 404) throw error;
        }
      }
      state.articles = articles;
      renderArticles();
      setStatus(status, '');
    } catch (error) {
      if (state.signedIn) setStatus(status, explain(error, 'list articles'), { error: true });
    }
  }

  function sortedArticles() {
    const drafts = [];
    const published = [];
    for (const article of state.articles.values()) {
      (article.published ? published : drafts).push(article);
    }
    drafts.sort((a, b) => b.updated_at - a.updated_at || b.id - a.id);
    published.sort((a, b) => b.published_at - a.published_at || b.id - a.id);
    return drafts.concat(published);
  }

  function actionButton(action, text, about) {
    return make('button', { type: 'button', class: 'button button-secondary button-small', dataset: { action } }, [
      text,
      hiddenText(` “${about}”`),
    ]);
  }

  function articleItem(article) {
    const status = article.published ? 'published' : 'draft';
    const actions = make('div', { class: 'nr-item-actions' }, [actionButton('edit', 'Edit', article.headline)]);
    if (article.published && state.can.alerts) {
      actions.append(actionButton('compose', 'Compose alert', article.headline));
    }
    if (article.published) {
      actions.append(
        make('a', { class: 'button button-secondary button-small', href: article.url, target: '_blank', rel: 'noopener' }, [
          'View',
          hiddenText(` “${article.headline}” (opens in a new tab)`),
        ]),
      );
    }
    return make('li', { class: 'nr-item', dataset: { key: `article-${article.id}`, articleId: String(article.id) } }, [
      make('h3', { class: 'nr-item-title', text: article.headline }),
      make('p', { class: 'nr-item-meta' }, [
        hiddenText('Status: '),
        make('span', { class: `badge badge-${status}`, text: status }),
        ' ',
        CATEGORY_LABELS[article.category] || article.category,
        ' · ',
        timeElement(article.published ? article.published_at : article.updated_at),
        article.published || !article.created_by ? '' : ` · by ${article.created_by}`,
      ]),
      actions,
    ]);
  }

  // Replaces a list's items, keeping keyboard focus on the same item's same control.
  function replaceItems(list, items) {
    const active = document.activeElement;
    let keep = null;
    if (active && list.contains(active)) {
      const item = active.closest('[data-key]');
      if (item) keep = { key: item.dataset.key, action: active.dataset.action || '' };
    }
    list.replaceChildren(...items);
    if (!keep) return;
    const item = Array.from(list.children).find((li) => li.dataset.key === keep.key);
    if (!item) return;
    const target = keep.action ? item.querySelector(`[data-action="${keep.action}"]`) : null;
    (target || item).focus();
  }

  function renderArticles() {
    const articles = sortedArticles();
    const items = articles.map(articleItem);
    if (!items.length) items.push(make('li', { class: 'nr-empty', text: 'No articles yet.' }));
    replaceItems(el.articles, items);
  }

  function openEditor(article, { focus = true } = {}) {
    const form = el.articleForm;
    state.editing = article;
    state.slugTouched = Boolean(article);
    clearErrors(form);
    for (const name of ARTICLE_FIELDS) {
      const fallback = name === 'category' ? 'breaking' : '';
      form.elements[name].value = article ? (article[name] ?? fallback) : fallback;
    }
    updateEditor();
    if (focus) el.editorTitle.focus();
  }

  function updateEditor() {
    const article = state.editing;
    el.editorTitle.textContent = article ? `Edit: ${article.headline}` : 'New article';
    el.publish.hidden = Boolean(article && article.published);
    el.save.textContent = article && article.published ? 'Save changes' : 'Save draft';
  }

  function articleBody() {
    const fields = el.articleForm.elements;
    const body = {};
    for (const name of ARTICLE_FIELDS) {
      const value = fields[name].value;
      body[name] = name === 'body_markdown' ? value : value.trim();
    }
    return body;
  }

  async function onArticleSubmit(event) {
    event.preventDefault();
    const form = el.articleForm;
    const publish = Boolean(event.submitter && event.submitter.value === 'publish');
    clearErrors(form);
    const body = articleBody();
    if (publish) body.publish = true;
    setBusy(form, true);
    setStatus(formStatus(form), publish ? 'Publishing…' : 'Saving…');
    try {
      let article;
      if (state.editing) {
        article = await api('PUT', `articles/${state.editing.id}`, body);
      } else {
        const created = await api('POST', 'articles', body);
        rememberCreated(created.id);
        article = await api('GET', `articles/${created.id}`);
      }
      state.articles.set(article.id, article);
      state.editing = article;
      state.slugTouched = true;
      updateEditor();
      renderArticles();
      let message = `Saved “${article.headline}” as a draft.`;
      if (article.published) message = publish ? `Published “${article.headline}”.` : `Saved “${article.headline}”.`;
      setBusy(form, false);
      setStatus(formStatus(form), message, {
        focus: true,
        link: article.published ? { href: article.url, text: 'View it on the site' } : null,
      });
    } catch (error) {
      setBusy(form, false);
      showFormError(form, error, publish ? 'publish the article' : 'save the article');
    }
  }

  function onArticleListClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const item = button.closest('[data-article-id]');
    const article = item && state.articles.get(Number(item.dataset.articleId));
    if (!article) return;
    if (button.dataset.action === 'edit') openEditor(article);
    if (button.dataset.action === 'compose') openCompose(article);
  }

  // ---- composing an alert ----

  function absoluteUrl(path) {
    return /^[a-z]+:/i.test(path) ? path : baseUrl + path;
  }

  function resetCompose() {
    const form = el.alertForm;
    state.composeArticle = null;
    state.ttlTouched = false;
    form.reset();
    clearErrors(form);
    el.composeSource.textContent = composeSourceHint;
    onCategoryChange();
  }

  function openCompose(article) {
    if (state.pending) {
      el.confirmTitle.focus();
      announce('Confirm or cancel the alert you composed first.');
      return;
    }
    resetCompose();
    const fields = el.alertForm.elements;
    state.composeArticle = article;
    fields.title.value = clip(article.headline, 120);
    fields.body.value = clip(article.standfirst, 240);
    fields.url.value = absoluteUrl(article.url);
    fields.category.value = article.category;
    fields.urgency.value = 'high';
    fields.topic.value = article.category === 'live' ? `live-${article.id}` : '';
    el.composeSource.textContent = `From the article “${article.headline}”. Check the text before composing.`;
    onCategoryChange();
    el.composeTitle.focus();
  }

  function topicField() {
    return $('[data-field="topic"]', el.alertForm);
  }

  function onCategoryChange() {
    const fields = el.alertForm.elements;
    const category = fields.category.value;
    if (!state.ttlTouched) fields.ttl_seconds.value = String(DEFAULT_TTL[category] ?? 3600);
    // A topic is for live events: one per event, so a newer update replaces an older one.
    topicField().hidden = category !== 'live';
    if (category === 'live' && !fields.topic.value && state.composeArticle) {
      fields.topic.value = `live-${state.composeArticle.id}`;
    }
    if (state.signedIn && state.can.alerts) showAudience(category);
  }

  let audienceTicket = 0;
  async function showAudience(category) {
    const ticket = ++audienceTicket;
    el.audience.textContent = 'Counting readers…';
    delete el.audience.dataset.count;
    try {
      const counts = await api('GET', 'audience');
      if (ticket !== audienceTicket) return;
      const count = Number(counts[category]) || 0;
      el.audience.replaceChildren(
        'Audience: ',
        make('strong', { text: readers(count) }),
        ` subscribed to ${(CATEGORY_LABELS[category] || category).toLowerCase()}.`,
      );
      el.audience.dataset.count = String(count);
    } catch (error) {
      if (ticket === audienceTicket && state.signedIn) {
        el.audience.textContent = explain(error, 'count the audience');
      }
    }
  }

  function lockCompose(locked) {
    $('fieldset', el.alertForm).disabled = locked;
    el.compose.disabled = locked;
    el.composeClear.disabled = locked;
  }

  function selectedText(select) {
    const option = select.selectedOptions[0];
    return option ? option.textContent : select.value;
  }

  async function onAlertSubmit(event) {
    event.preventDefault();
    const form = el.alertForm;
    const fields = form.elements;
    clearErrors(form);
    const body = {
      title: fields.title.value.trim(),
      body: fields.body.value.trim(),
      url: fields.url.value.trim(),
      category: fields.category.value,
      urgency: fields.urgency.value,
      ttl_seconds: Number(fields.ttl_seconds.value),
    };
    if (state.composeArticle) body.article_id = state.composeArticle.id;
    if (!topicField().hidden && fields.topic.value.trim()) body.topic = fields.topic.value.trim();
    const sendAt = FC && FC.readSendAt(form);
    if (sendAt) body.send_at = sendAt;
    // Set after a refusal the editor chose to override (the server audits it).
    if (state.forceCompose) body.force = true;
    const summary = [
      ['Title', body.title],
      ['Text', body.body || '(none)'],
      ['Link', body.url],
      ['Category', CATEGORY_LABELS[body.category]],
      ['Urgency', selectedText(fields.urgency)],
      ['Expires after', selectedText(fields.ttl_seconds)],
    ];
    if (body.topic) summary.push(['Topic', body.topic]);
    if (sendAt) summary.push(['Send at', new Date(sendAt).toLocaleString()]);
    setBusy(form, true);
    setStatus(formStatus(form), 'Composing…');
    try {
      const draft = await api('POST', 'alerts', body);
      setBusy(form, false);
      setStatus(formStatus(form), '');
      state.forceCompose = false;
      showConfirm({
        id: draft.id, audience: draft.audience, title: body.title, summary,
        alert: { title: body.title, body: body.body, url: body.url }, force: Boolean(body.force),
      });
      loadAlerts();
    } catch (error) {
      setBusy(form, false);
      const refusal = FC && FC.guardrail(error);
      if (refusal) {
        state.forceCompose = refusal.overridable;
        setStatus(formStatus(form), refusal.overridable
          ? `${refusal.text} Press “Compose” again to compose it anyway (this is recorded).`
          : refusal.text, { error: true, focus: true });
        return;
      }
      showFormError(form, error, 'compose the alert');
    }
  }

  // The second step: "Send to N readers?" with Confirm / Cancel.
  function showConfirm(pending) {
    state.pending = pending;
    el.confirmTitle.textContent = `Send to ${readers(pending.audience)}?`;
    el.confirmSummary.replaceChildren(
      ...pending.summary.map(([term, value]) => make('div', {}, [make('dt', { text: term }), make('dd', { text: value })])),
    );
    const old = el.confirm.querySelector('[data-nr-preview]');
    if (old) old.remove();
    if (FC && pending.alert) el.confirmSummary.after(FC.preview(pending.alert));
    lockCompose(true);
    el.confirmSend.disabled = false;
    el.confirmCancel.disabled = false;
    el.confirm.hidden = false;
    // For the other parts (newsroom-testsend.js: "Send a test to me" after Confirm and Cancel).
    el.confirm.dispatchEvent(new CustomEvent('flashwire:confirm', { detail: { id: pending.id } }));
    el.confirmTitle.focus();
  }

  function hideConfirm() {
    state.pending = null;
    el.confirm.hidden = true;
    el.confirmSummary.replaceChildren();
    lockCompose(false);
  }

  async function onConfirm() {
    const pending = state.pending;
    if (!pending) return;
    const status = formStatus(el.alertForm);
    el.confirmSend.disabled = true;
    el.confirmCancel.disabled = true;
    setStatus(status, 'Sending…');
    try {
      const request = { confirm: true };
      if (pending.force) request.force = true;
      const result = await api('POST', `alerts/${pending.id}/send`, request);
      hideConfirm();
      resetCompose();
      setAlertStatus(pending.id, result.status || 'sending', pending);
      setStatus(status, result.status === 'scheduled'
        ? `Scheduled “${pending.title}” for ${new Date(result.send_at).toLocaleString()}; cancel it from the alerts list until then.`
        : `Sending “${pending.title}” to ${readers(result.audience ?? pending.audience)}.`);
      focusAlert(pending.id);
      schedulePoll();
    } catch (error) {
      if (!state.signedIn) return;
      const refusal = FC && FC.guardrail(error);
      if (refusal) {
        pending.force = refusal.overridable;
        el.confirmSend.disabled = !refusal.overridable;
        el.confirmCancel.disabled = false;
        setStatus(status, refusal.overridable
          ? `Not sent. ${refusal.text} Press “Confirm” again to send it anyway (this is recorded).`
          : `Not sent. ${refusal.text}`, { error: true, focus: true });
        return;
      }
      if (error.status === 409) {
        hideConfirm();
        setStatus(status, `Not sent: ${error.message}.`, { error: true, focus: true });
        loadAlerts();
        return;
      }
      el.confirmSend.disabled = false;
      el.confirmCancel.disabled = false;
      setStatus(status, explain(error, 'send the alert'), { error: true });
      el.confirmTitle.focus();
    }
  }

  async function onCancel() {
    const pending = state.pending;
    if (!pending) return;
    const status = formStatus(el.alertForm);
    el.confirmSend.disabled = true;
    el.confirmCancel.disabled = true;
    try {
      await api('POST', `alerts/${pending.id}/cancel`);
      hideConfirm();
      setAlertStatus(pending.id, 'cancelled', pending);
      setStatus(status, 'Cancelled: nothing was sent. Change the alert and compose it again if you like.', {
        focus: true,
      });
    } catch (error) {
      if (!state.signedIn) return;
      if (error.status === 409) {
        hideConfirm();
        setStatus(status, `Could not cancel: ${error.message}.`, { error: true, focus: true });
        loadAlerts();
        return;
      }
      el.confirmSend.disabled = false;
      el.confirmCancel.disabled = false;
      setStatus(status, explain(error, 'cancel the alert'), { error: true });
      el.confirmTitle.focus();
    }
  }

  // A draft from the list (composed earlier, never confirmed) gets the same second step.
  async function reviewDraft(alert) {
    if (state.pending) {
      el.confirmTitle.focus();
      announce('Confirm or cancel the alert you composed first.');
      return;
    }
    let audience = 0;
    try {
      const counts = await api('GET', 'audience');
      audience = Number(counts[alert.category]) || 0;
    } catch (error) {
      if (state.signedIn) setStatus(panelStatus(el.alertsPanel), explain(error, 'count the audience'), { error: true });
      return;
    }
    resetCompose();
    el.composeSource.textContent = `Reviewing the draft “${alert.title}”.`;
    showConfirm({
      id: alert.id,
      audience,
      title: alert.title,
      alert: { title: alert.title, body: alert.body, url: alert.url },
      summary: [
        ['Title', alert.title],
        ['Text', alert.body || '(none)'],
        ['Link', alert.url],
        ['Category', CATEGORY_LABELS[alert.category] || alert.category],
        ['Urgency', alert.urgency],
        ['Expires after', ttlText(alert.ttl_seconds)],
      ].concat(alert.topic ? [['Topic', alert.topic]] : []),
    });
  }

  // ---- the alerts list ----

  function setAlertStatus(id, status, pending) {
    state.alertsVersion += 1;
    const alert = state.alerts.find((a) => a.id === id);
    if (alert) {
      alert.status = status;
    } else {
      state.alerts.unshift({
        id,
        title: pending.title,
        body: '',
        url: '',
        category: '',
        status,
        created_at: Math.floor(Date.now() / 1000),
        engagement: { received: 0, displayed: 0, clicked: 0, dismissed: 0 },
      });
    }
    renderAlerts();
  }

  function focusAlert(id) {
    const item = Array.from(el.alerts.children).find((li) => li.dataset.key === `alert-${id}`);
    if (item) item.focus();
  }

  function counts(title, fields, values, className) {
    return make('div', { class: `nr-counts ${className}` }, [
      make('p', { class: 'nr-counts-title', text: title }),
      make(
        'dl',
        {},
        fields.map(([key, label]) =>
          make('div', { dataset: { count: key } }, [
            make('dt', { text: label }),
            make('dd', { text: (Number(values[key]) || 0).toLocaleString('en') }),
          ]),
        ),
      ),
    ]);
  }

  function alertItem(alert) {
    const meta = make('p', { class: 'nr-item-meta' }, [
      hiddenText('Status: '),
      make('span', { class: `badge badge-${alert.status}`, dataset: { alertStatus: alert.status }, text: alert.status }),
    ]);
    const details = [
      CATEGORY_LABELS[alert.category],
      alert.urgency && `urgency ${alert.urgency}`,
      alert.ttl_seconds !== undefined && `expires after ${ttlText(alert.ttl_seconds)}`,
      alert.topic && `topic ${alert.topic}`,
      alert.created_by && `by ${alert.created_by}`,
    ].filter(Boolean);
    for (const detail of details) meta.append(' · ', detail);
    const when = timeElement(alert.created_at);
    if (when) meta.append(' · ', when);

    const children = [make('h3', { class: 'nr-item-title', text: alert.title }), meta];
    if (alert.body) children.push(make('p', { class: 'nr-alert-body', text: alert.body }));
    if (alert.url) children.push(make('p', { class: 'nr-alert-url', text: alert.url }));
    if (alert.status === 'scheduled' && alert.send_at) {
      children.push(make('p', { class: 'hint nr-alert-send-at', text: `Goes out ${new Date(alert.send_at).toLocaleString()}.` }));
      children.push(make('div', { class: 'nr-item-actions' }, [actionButton('discard', 'Cancel scheduled alert', alert.title)]));
    }
    if (alert.status !== 'draft' && alert.status !== 'cancelled' && alert.status !== 'scheduled') {
      if (alert.delivery && typeof alert.delivery === 'object') {
        // A push service refusing our VAPID credentials is a configuration problem that stops
        // delivery to all its readers: said first, where the editor cannot miss it.
        if (typeof alert.delivery.error === 'string' && alert.delivery.error) {
          children.push(make('p', { class: 'nr-delivery-error', text: `Problem: ${alert.delivery.error}` }));
        }
        children.push(counts('Delivery', DELIVERY, alert.delivery, 'nr-delivery'));
        const reasons = alert.delivery.failed_by_reason;
        if (reasons && typeof reasons === 'object' && Object.keys(reasons).length) {
          const text = Object.entries(reasons)
            .map(([reason, count]) => `${reason} ${Number(count)}`)
            .join(', ');
          children.push(make('p', { class: 'hint nr-delivery-reasons', text: `Failed: ${text}` }));
        }
      } else {
        children.push(make('p', { class: 'hint nr-delivery-pending', text: 'Delivery figures are not available yet.' }));
      }
      children.push(counts('Engagement', ENGAGEMENT, alert.engagement || {}, 'nr-engagement'));
    }
    if (alert.status === 'sending') {
      // Two steps, like sending: one stray click must not halt a breaking-news alert.
      children.push(
        state.stopAsked === alert.id
          ? make('div', { class: 'nr-item-actions' }, [
              make('p', { class: 'hint', text: 'Stop now? Readers who already got it keep it; the rest will not get it.' }),
              actionButton('stop-confirm', 'Yes, stop sending', alert.title),
              actionButton('stop-keep', 'Keep sending', alert.title),
            ])
          : make('div', { class: 'nr-item-actions' }, [actionButton('stop', 'Stop sending', alert.title)]),
      );
    }
    if (alert.status === 'draft' && !(state.pending && state.pending.id === alert.id)) {
      children.push(
        make('div', { class: 'nr-item-actions' }, [
          actionButton('review', 'Review and send', alert.title),
          actionButton('discard', 'Cancel draft', alert.title),
        ]),
      );
    }
    return make(
      'li',
      { class: 'nr-item nr-alert', tabindex: '-1', dataset: { key: `alert-${alert.id}`, alertId: String(alert.id) } },
      children,
    );
  }

  function renderAlerts() {
    const items = state.alerts.map(alertItem);
    if (!items.length) items.push(make('li', { class: 'nr-empty', text: 'No alerts yet.' }));
    replaceItems(el.alerts, items);
    const sending = state.alerts.some((a) => a.status === 'sending');
    el.polling.hidden = !sending;
  }

  // Tells the editor when an alert they may be waiting for stops sending.
  function announceChanges(before, after) {
    const old = new Map(before.map((a) => [a.id, a.status]));
    for (const alert of after) {
      if (old.get(alert.id) === 'sending' && alert.status !== 'sending') {
        announce(`The alert “${alert.title}” is now ${alert.status}.`);
      }
    }
  }

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    state.pollTimer = 0;
    if (!state.signedIn || !state.can.alerts) return;
    if (state.alerts.some((a) => a.status === 'sending')) {
      state.pollTimer = setTimeout(() => {
        state.pollTimer = 0;
        // A tab in the background does not poll; it catches up when shown again.
        if (!document.hidden) loadAlerts();
      }, POLL_MS);
    }
  }

  async function loadAlerts() {
    if (!state.signedIn || !state.can.alerts) return;
    const version = state.alertsVersion;
    const status = panelStatus(el.alertsPanel);
    try {
      const data = await api('GET', 'alerts');
      if (version === state.alertsVersion) {
        const alerts = data.alerts || [];
        announceChanges(state.alerts, alerts);
        state.alerts = alerts;
        renderAlerts();
        setStatus(status, '');
      }
    } catch (error) {
      if (state.signedIn) setStatus(status, explain(error, 'list alerts'), { error: true });
    }
    schedulePoll();
  }

  async function onAlertListClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const item = button.closest('[data-alert-id]');
    const alert = item && state.alerts.find((a) => a.id === Number(item.dataset.alertId));
    if (!alert) return;
    if (button.dataset.action === 'review') reviewDraft(alert);
    if (button.dataset.action === 'stop' || button.dataset.action === 'stop-keep') {
      state.stopAsked = button.dataset.action === 'stop' ? alert.id : 0;
      renderAlerts();
      const next = el.alerts.querySelector(
        `[data-alert-id="${alert.id}"] button[data-action="${state.stopAsked ? 'stop-confirm' : 'stop'}"]`,
      );
      if (next) next.focus();
      return;
    }
    if (button.dataset.action === 'stop-confirm') {
      button.disabled = true;
      state.stopAsked = 0;
      try {
        await api('POST', `alerts/${alert.id}/cancel`);
        setAlertStatus(alert.id, 'cancelled', alert);
        announce(`Stopped sending “${alert.title}”.`);
        focusAlert(alert.id);
      } catch (error) {
        if (state.signedIn) setStatus(panelStatus(el.alertsPanel), explain(error, 'stop the alert'), { error: true });
        loadAlerts();
      }
      return;
    }
    if (button.dataset.action === 'discard') {
      button.disabled = true;
      try {
        await api('POST', `alerts/${alert.id}/cancel`);
        setAlertStatus(alert.id, 'cancelled', alert);
        announce(`Cancelled the draft “${alert.title}”.`);
        focusAlert(alert.id);
      } catch (error) {
        button.disabled = false;
        if (state.signedIn) setStatus(panelStatus(el.alertsPanel), explain(error, 'cancel the draft'), { error: true });
        loadAlerts();
      }
    }
  }

  // ---- hooks for the newsroom's other parts (newsroom-live.js) ----

  // Fills the compose form and composes at once: the draft then waits in the usual confirm
  // step ("Send to N readers?"), so nothing reaches readers without Confirm.
  function composeAlert(fields) {
    if (!state.signedIn || !state.can.alerts) return false;
    if (state.pending) {
      el.confirmTitle.focus();
      announce('Confirm or cancel the alert you composed first.');
      return false;
    }
    resetCompose();
    const form = el.alertForm.elements;
    form.title.value = clip(fields.title || '', 120);
    form.body.value = clip(fields.body || '', 240);
    form.url.value = fields.url || '';
    form.category.value = fields.category || 'live';
    form.urgency.value = 'high';
    onCategoryChange();
    if (fields.topic) form.topic.value = fields.topic;
    el.composeSource.textContent = fields.source || composeSourceHint;
    el.alertForm.requestSubmit();
    el.composePanel.scrollIntoView({ block: 'start' });
    return true;
  }
  // The API with this tab's token: (method, path below /api/newsroom/, body) → data, or throws
  // an error with status, code and message.
  window.flashwireNewsroom = {
    api: (method, path, body) => api(method, path, body),
    explain,
    composeAlert,
    pendingAlert: () => (state.pending ? state.pending.id : null),
  };

  // ---- start ----

  function init() {
    el.signinForm.addEventListener('submit', onSignInSubmit);
    el.signout.addEventListener('click', () => signOut('Signed out. The token is no longer kept in this tab.'));
    el.newArticle.addEventListener('click', () => openEditor(null));
    el.articles.addEventListener('click', onArticleListClick);
    el.articleForm.addEventListener('submit', onArticleSubmit);
    const fields = el.articleForm.elements;
    fields.headline.addEventListener('input', () => {
      if (!state.editing && !state.slugTouched) fields.slug.value = slugify(fields.headline.value);
    });
    fields.slug.addEventListener('input', () => {
      state.slugTouched = fields.slug.value !== '';
    });
    el.alertForm.addEventListener('submit', onAlertSubmit);
    el.alertForm.elements.category.addEventListener('change', onCategoryChange);
    el.alertForm.elements.ttl_seconds.addEventListener('change', () => {
      state.ttlTouched = true;
    });
    el.composeClear.addEventListener('click', () => {
      resetCompose();
      el.alertForm.elements.title.focus();
    });
    el.confirmSend.addEventListener('click', onConfirm);
    el.confirmCancel.addEventListener('click', onCancel);
    el.confirm.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !el.confirmCancel.disabled) onCancel();
    });
    el.alerts.addEventListener('click', onAlertListClick);
    el.refreshAlerts.addEventListener('click', () => loadAlerts());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.signedIn && !state.pollTimer) loadAlerts();
    });

    const saved = readSession(TOKEN_KEY);
    if (saved && TOKEN_PATTERN.test(saved)) {
      signIn(saved, { restoring: true });
    } else {
      showSignIn();
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
