// Flashwire newsroom, compose and confirm: the notification preview as Chrome shows it on
// Windows, macOS and Android (with a warning where the text will be cut), the "send later"
// field (send_at), and the words for the API's guardrail refusals (docs/newsroom.md).
// Loaded before newsroom.js, which calls window.FlashwireCompose; plain JavaScript under the
// site's strict Content-Security-Policy. Text goes into the page as text, never as HTML.
'use strict';

(() => {
  // Characters each platform shows before cutting, for Chrome's notifications in their default
  // (collapsed) form. The systems cut by width in their own font, not by characters, so these
  // are estimates for typical Latin text: the budgets web-push providers publish for these
  // platforms (title / body: Windows 10–11 about 60 / 120, macOS banners about 40 / 90, Android
  // collapsed about 50 / 120). A warning says "may be cut" for that reason.
  const PLATFORMS = [
    { key: 'windows', name: 'Chrome on Windows', title: 60, body: 120 },
    { key: 'macos', name: 'Chrome on macOS', title: 40, body: 90 },
    { key: 'android', name: 'Chrome on Android', title: 50, body: 120 },
  ];
  const ICON = '/assets/icon.svg';

  // What each refusal means for the editor, and whether "anyway" is possible.
  const GUARDRAILS = {
    url_not_found: 'The link does not lead to a published article, live event or page of this site: readers would land on “not found”.',
    duplicate_alert: 'An alert with the same title or link went out (or is scheduled) less than 10 minutes ago.',
    rate_capped: 'This category has reached the desk’s hourly cap of alerts.',
    empty_audience: 'Nobody subscribes to this category yet: the alert would reach no one. It cannot be sent.',
  };

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  // The first `max` characters (code points) and an ellipsis when cut.
  function cut(text, max) {
    const chars = Array.from(text);
    return chars.length > max ? { text: `${chars.slice(0, max - 1).join('')}…`, cut: true } : { text, cut: false };
  }

  function host(url) {
    try {
      return new URL(url, window.location.origin).host;
    } catch {
      return window.location.host;
    }
  }

  // The preview of `alert` ({title, body, url, image?}) on every platform, and the warnings.
  function preview(alert) {
    const warnings = [];
    const cards = PLATFORMS.map((p) => {
      const title = cut(alert.title || '', p.title);
      const body = cut(alert.body || '', p.body);
      if (title.cut) warnings.push(`${p.name} may cut the title after about ${p.title} characters.`);
      if (body.cut) warnings.push(`${p.name} may cut the text after about ${p.body} characters.`);
      const card = make('figure', { class: `nr-notif nr-notif-${p.key}` }, [
        make('figcaption', { class: 'nr-notif-platform', text: p.name }),
        make('div', { class: 'nr-notif-box' }, [
          make('img', { class: 'nr-notif-icon', src: ICON, alt: '', width: '32', height: '32' }),
          make('div', { class: 'nr-notif-text' }, [
            make('p', { class: 'nr-notif-source', text: `Chrome · ${host(alert.url)}` }),
            make('p', { class: 'nr-notif-title', text: title.text }),
            make('p', { class: 'nr-notif-body', text: body.text }),
          ]),
        ]),
      ]);
      if (alert.image) card.querySelector('.nr-notif-box').append(make('img', { class: 'nr-notif-image', src: alert.image, alt: '' }));
      return card;
    });
    const list = make('ul', { class: 'nr-notif-warnings' }, warnings.map((w) => make('li', { text: w })));
    list.hidden = warnings.length === 0;
    return make('div', { class: 'nr-preview', 'data-nr-preview': '' }, [
      make('p', { class: 'nr-preview-title', text: 'How readers will see it' }),
      make('div', { class: 'nr-notif-row' }, cards),
      list,
    ]);
  }

  // The "Send later" control, added once to the compose form (before its buttons).
  function addSendAtField(form) {
    if (form.elements.namedItem('send_at')) return;
    const id = 'nr-alert-send-at';
    const field = make('div', { class: 'field' }, [
      make('label', { for: id, text: 'Send later (optional)' }),
      make('input', { id, name: 'send_at', type: 'datetime-local', 'aria-describedby': `${id}-hint ${id}-error` }),
      make('p', { class: 'hint', id: `${id}-hint`, text: 'Your local time, up to 30 days ahead. Empty: send on confirmation.' }),
      make('p', { class: 'field-error', id: `${id}-error`, hidden: '' }),
    ]);
    const fieldset = form.querySelector('fieldset') || form;
    fieldset.append(field);
  }

  // The field's value as RFC 3339 (UTC), or null when empty.
  function readSendAt(form) {
    const control = form.elements.namedItem('send_at');
    if (!control || !control.value) return null;
    const at = new Date(control.value); // datetime-local: the editor's local time
    if (Number.isNaN(at.getTime())) return null;
    return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  // Words for a refusal; null for other errors.
  function guardrail(error) {
    const text = GUARDRAILS[error.code];
    if (!text) return null;
    return { text: `${text} (${error.message})`, overridable: error.code !== 'empty_audience' };
  }

  window.FlashwireCompose = { preview, addSendAtField, readSendAt, guardrail, PLATFORMS };
})();
