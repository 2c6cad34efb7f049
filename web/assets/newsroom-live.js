// Flashwire newsroom: the live desk (the "Live desk" panel of /newsroom). Choose a live event;
// write an update in Markdown and preview it with the server's renderer (POST
// /api/newsroom/preview, so the preview is exactly what readers get); see the event as readers
// do, and on each update: Edit (correct it), Delete, Pin / Unpin, and "Alert readers", which
// composes a live alert for that update and leaves it in the usual confirm step.
//
// Runs after newsroom.js and uses its hooks (window.flashwireNewsroom: the API with the tab's
// token, its error wording, composeAlert) and its events (nr:signed-in, nr:signed-out). While an
// event is open, the desk follows the readers' own stream (/live/<slug>/events) and reloads the
// list when anything changes, so colleagues' updates show too. Text from the API goes into the
// page as text; update HTML comes from the server's Markdown renderer, as on readers' pages.
'use strict';

(() => {
  const root = document.querySelector('[data-newsroom]');
  const panel = root && root.querySelector('[data-nr-live-panel]');
  const hooks = window.flashwireNewsroom;
  if (!panel || !hooks) return;

  const $ = (selector) => panel.querySelector(selector);
  const el = {
    choose: $('[data-nr-live-event]'),
    open: $('[data-nr-live-open]'),
    status: $('[data-nr-panel-status]'),
    work: $('[data-nr-live-work]'),
    form: $('[data-nr-live-form]'),
    formStatus: $('[data-nr-live-form] [data-nr-form-status]'),
    post: $('[data-nr-live-post]'),
    previewButton: $('[data-nr-live-preview-button]'),
    preview: $('[data-nr-live-preview]'),
    previewBody: $('[data-nr-live-preview-body]'),
    pinned: $('[data-nr-live-pinned]'),
    pinnedBody: $('[data-nr-live-pinned-body]'),
    empty: $('[data-nr-live-empty]'),
    updates: $('[data-nr-live-updates]'),
  };
  const baseUrl = (root.dataset.baseUrl || window.location.origin).replace(/\/+$/, '');
  const MAX_BYTES = 20000;
  // The chosen event, for this tab: a reload comes back to it.
  const EVENT_KEY = 'flashwire.newsroom.live-event';
  const remember = (slug) => {
    try {
      if (slug) sessionStorage.setItem(EVENT_KEY, slug);
      else sessionStorage.removeItem(EVENT_KEY);
    } catch {
      // Storage refused (private mode): the choice is simply not kept.
    }
  };
  const remembered = () => {
    try {
      return sessionStorage.getItem(EVENT_KEY) || '';
    } catch {
      return '';
    }
  };

  let state = fresh();
  function fresh() {
    return {
      signedIn: false,
      canAlert: false,
      event: null, // {id, slug, headline, url}
      updates: [],
      pinned: null,
      editing: 0, // the id of the update being corrected
      renderedKey: '', // what the list shows now
      loadTicket: 0,
      source: null,
    };
  }

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (key.startsWith('data-') || key.startsWith('aria-')) node.setAttribute(key, value);
      else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  function say(node, message, error = false) {
    node.textContent = message;
    node.classList.toggle('status-error', error);
  }

  function timeText(unixSeconds) {
    const date = new Date(unixSeconds * 1000);
    return date.toLocaleString(undefined, {
      day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
    });
  }

  function timeElement(unixSeconds) {
    return make('time', { dateTime: new Date(unixSeconds * 1000).toISOString(), text: timeText(unixSeconds) });
  }

  // The same checks as the API (live_desk.cc), so most mistakes are caught before a round trip.
  function problem(text) {
    if (!text.trim()) return 'Write the update first.';
    if (new TextEncoder().encode(text).length > MAX_BYTES) return 'An update is at most 20 KB.';
    return '';
  }

  // ---- choosing the event ----

  async function loadEvents() {
    try {
      const data = await hooks.api('GET', 'articles');
      const events = (data.articles || []).filter((a) => a.category === 'live' && a.published);
      const chosen = el.choose.value || remembered();
      el.choose.replaceChildren(
        make('option', { value: '', text: events.length ? 'Choose a live event…' : 'No live event is published' }),
        ...events.map((a) => make('option', { value: a.slug, text: a.headline })),
      );
      say(el.status, '');
      if (events.some((a) => a.slug === chosen)) {
        el.choose.value = chosen;
        if (!state.event || state.event.slug !== chosen) chooseEvent();
      }
    } catch (error) {
      say(el.status, hooks.explain(error, 'list the live events'), true);
    }
  }

  function chooseEvent() {
    stopFollowing();
    const slug = el.choose.value;
    remember(slug);
    state.event = null;
    state.editing = 0;
    state.renderedKey = '';
    el.updates.replaceChildren();
    el.preview.hidden = true;
    if (!slug) {
      el.work.hidden = true;
      el.open.hidden = true;
      return;
    }
    el.work.hidden = false;
    loadUpdates(slug);
  }

  // ---- the stream as readers see it ----

  async function loadUpdates(slug = state.event && state.event.slug) {
    if (!slug) return;
    const ticket = ++state.loadTicket;
    try {
      const data = await hooks.api('GET', `live/${encodeURIComponent(slug)}/updates`);
      if (ticket !== state.loadTicket) return;
      const first = !state.event || state.event.slug !== data.slug;
      state.event = { id: data.id, slug: data.slug, headline: data.headline, url: data.url };
      state.updates = data.updates || [];
      state.pinned = data.pinned || null;
      el.open.href = data.url;
      el.open.hidden = false;
      render();
      if (first) follow();
    } catch (error) {
      if (ticket === state.loadTicket) say(el.status, hooks.explain(error, 'load the updates'), true);
    }
  }

  // An update's content as the live page shows it: time, "Corrected <time>", text.
  function content(update) {
    const parts = [timeElement(update.created_at)];
    if (update.edited_at) {
      parts.push(make('span', { class: 'live-update-edited', text: ' Corrected ' }, [timeElement(update.edited_at)]));
    }
    const body = make('div', { class: 'live-update-body' });
    body.innerHTML = update.html; // rendered by the server's Markdown renderer
    parts.push(body);
    return parts;
  }

  function actions(update) {
    const button = (action, text) => make('button', {
      type: 'button', class: 'button button-secondary button-small', text, 'data-action': action,
      'aria-label': `${text}: update of ${timeText(update.created_at)}`,
    });
    const row = [button('edit', 'Edit'), button('delete', 'Delete'),
      update.pinned ? button('unpin', 'Unpin') : button('pin', 'Pin')];
    if (state.canAlert) row.push(button('alert', 'Alert readers'));
    return make('div', { class: 'nr-item-actions' }, row);
  }

  function editor(update) {
    const id = `nr-live-edit-${update.id}`;
    const area = make('textarea', { id, name: 'body_markdown', rows: 5, class: 'mono', value: update.body_markdown });
    return make('form', { class: 'nr-form nr-live-edit', 'data-edit-form': String(update.id), noValidate: true }, [
      make('label', { htmlFor: id, text: 'Correct the update (Markdown)' }),
      area,
      make('div', { class: 'actions' }, [
        make('button', { type: 'submit', class: 'button button-primary button-small', text: 'Save correction' }),
        make('button', { type: 'button', class: 'button button-secondary button-small', text: 'Cancel', 'data-action': 'cancel-edit' }),
      ]),
      make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-edit-status': '' }),
    ]);
  }

  function render() {
    // The stream reloads the list after every change, the desk's own included: an identical
    // answer leaves the page alone (focus, a half-confirmed Delete).
    const key = JSON.stringify([state.updates, state.pinned, state.editing, state.canAlert]);
    if (key === state.renderedKey) return;
    state.renderedKey = key;
    const focusId = document.activeElement && document.activeElement.closest('[data-update-id]')
      ? document.activeElement.closest('[data-update-id]').dataset.updateId : '';
    el.pinned.hidden = !state.pinned;
    el.pinnedBody.replaceChildren(...(state.pinned ? content(state.pinned) : []));
    el.empty.hidden = state.updates.length > 0;
    el.updates.replaceChildren(...state.updates.map((update) => {
      const item = make('li', { class: 'live-update nr-live-update', 'data-update-id': String(update.id) });
      if (update.pinned) item.setAttribute('data-pinned', '');
      if (state.editing === update.id) item.append(editor(update));
      else item.append(...content(update), actions(update));
      return item;
    }));
    if (focusId) {
      const again = el.updates.querySelector(`[data-update-id="${focusId}"] button, [data-update-id="${focusId}"] textarea`);
      if (again) again.focus();
    }
  }

  // The readers' stream: any event means the list changed (a colleague may have posted).
  function follow() {
    stopFollowing();
    if (!state.event || !('EventSource' in window)) return;
    const source = new EventSource(`${state.event.url}/events`);
    const reload = () => {
      if (!state.editing) loadUpdates();
    };
    for (const type of ['update', 'changed', 'deleted', 'pinned', 'unpinned']) {
      source.addEventListener(type, reload);
    }
    state.source = source;
  }

  function stopFollowing() {
    if (state.source) state.source.close();
    state.source = null;
  }

  // ---- writing ----

  async function onPreview() {
    const text = el.form.elements.body_markdown.value;
    const bad = problem(text);
    if (bad) {
      say(el.formStatus, bad, true);
      return;
    }
    try {
      const data = await hooks.api('POST', 'preview', { body_markdown: text });
      el.previewBody.innerHTML = data.html; // the server's renderer, as readers get it
      el.preview.hidden = false;
      say(el.formStatus, 'Preview below: this is how readers will see it.');
    } catch (error) {
      say(el.formStatus, hooks.explain(error, 'preview the update'), true);
    }
  }

  async function onPost(event) {
    event.preventDefault();
    if (!state.event) return;
    const text = el.form.elements.body_markdown.value;
    const bad = problem(text);
    if (bad) {
      say(el.formStatus, bad, true);
      el.form.elements.body_markdown.focus();
      return;
    }
    el.post.disabled = true;
    say(el.formStatus, 'Posting…');
    try {
      await hooks.api('POST', `live/${encodeURIComponent(state.event.slug)}/updates`, { body_markdown: text });
      el.form.reset();
      el.preview.hidden = true;
      say(el.formStatus, 'Posted. Readers with the page open see it now.');
      await loadUpdates();
    } catch (error) {
      say(el.formStatus, hooks.explain(error, 'post the update'), true);
    } finally {
      el.post.disabled = false;
    }
  }

  // ---- acting on an update ----

  function updatePath(id) {
    return `live/${encodeURIComponent(state.event.slug)}/updates/${id}`;
  }

  async function act(update, action, button) {
    const paths = {
      delete: ['DELETE', updatePath(update.id), 'Deleted. It is gone from readers’ pages.', 'delete the update'],
      pin: ['POST', `${updatePath(update.id)}/pin`, 'Pinned: readers see it first.', 'pin the update'],
      unpin: ['DELETE', `${updatePath(update.id)}/pin`, 'Unpinned.', 'unpin the update'],
    };
    const [method, path, done, doing] = paths[action];
    // Deleting asks twice: the first click turns the button into "Confirm delete".
    if (action === 'delete' && button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = 'Confirm delete';
      say(el.status, 'Press “Confirm delete” to remove the update from readers’ pages.');
      return;
    }
    button.disabled = true;
    try {
      await hooks.api(method, path);
      say(el.status, done);
      await loadUpdates();
    } catch (error) {
      button.disabled = false;
      say(el.status, hooks.explain(error, doing), true);
      loadUpdates();
    }
  }

  function alertReaders(update) {
    const text = (new DOMParser().parseFromString(update.html, 'text/html').body.textContent || '')
      .replace(/\s+/g, ' ').trim();
    const started = hooks.composeAlert({
      title: state.event.headline,
      body: text,
      url: `${baseUrl}${state.event.url}#update-${update.id}`,
      category: 'live',
      topic: `live-${state.event.id}`,
      source: `From the live update of ${timeText(update.created_at)} in “${state.event.headline}”. Check it, then confirm.`,
    });
    if (!started) say(el.status, 'Finish the alert that is waiting for confirmation first.', true);
  }

  function onListClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button || !state.event) return;
    const item = button.closest('[data-update-id]');
    const update = state.updates.find((u) => String(u.id) === item.dataset.updateId);
    if (!update) return;
    const action = button.dataset.action;
    if (action === 'edit') {
      state.editing = update.id;
      render();
      const area = el.updates.querySelector(`[data-edit-form="${update.id}"] textarea`);
      if (area) area.focus();
    } else if (action === 'cancel-edit') {
      state.editing = 0;
      render();
    } else if (action === 'alert') {
      alertReaders(update);
    } else {
      act(update, action, button);
    }
  }

  async function onEditSubmit(event) {
    const form = event.target.closest('[data-edit-form]');
    if (!form) return;
    event.preventDefault();
    const id = Number(form.dataset.editForm);
    const text = form.elements.body_markdown.value;
    const status = form.querySelector('[data-edit-status]');
    const bad = problem(text);
    if (bad) {
      say(status, bad, true);
      return;
    }
    say(status, 'Saving…');
    try {
      await hooks.api('PUT', updatePath(id), { body_markdown: text });
      state.editing = 0;
      say(el.status, 'Corrected. Readers’ pages show the new text, marked “Corrected”.');
      await loadUpdates();
    } catch (error) {
      say(status, hooks.explain(error, 'save the correction'), true);
    }
  }

  // ---- start ----

  root.addEventListener('nr:signed-in', (event) => {
    const can = (event.detail && event.detail.can) || {};
    state.signedIn = true;
    state.canAlert = Boolean(can.alerts);
    panel.hidden = !can.articles;
    if (can.articles) loadEvents();
  });
  root.addEventListener('nr:signed-out', () => {
    stopFollowing();
    remember('');
    state = fresh();
    el.choose.replaceChildren(make('option', { value: '', text: 'Choose a live event…' }));
    el.work.hidden = true;
    el.open.hidden = true;
    el.updates.replaceChildren();
    say(el.status, '');
  });
  el.choose.addEventListener('change', chooseEvent);
  el.choose.addEventListener('focus', () => {
    if (state.signedIn) loadEvents();
  }, { once: true });
  el.previewButton.addEventListener('click', onPreview);
  el.form.addEventListener('submit', onPost);
  el.updates.addEventListener('click', onListClick);
  el.updates.addEventListener('submit', onEditSubmit);
  window.addEventListener('pagehide', stopFollowing);
})();
