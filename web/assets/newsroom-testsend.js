// Flashwire newsroom, test sends: "Get test alerts in this browser" (the editor's own push
// subscription, stored against the token: PUT /api/newsroom/me/subscription) and "Send a test
// to me" in the confirm step (POST /api/newsroom/alerts/{id}/test), which sends the composed
// alert to that browser only. Loaded after newsroom.js, whose hooks it uses
// (window.flashwireNewsroom); plain JavaScript under the site's strict Content-Security-Policy.
'use strict';

(() => {
  const NR = window.flashwireNewsroom;
  const panel = document.querySelector('[data-nr-compose-panel]');
  const confirm = document.querySelector('[data-nr-confirm]');
  if (!NR || !panel || !confirm) return;

  const SERVICES = {
    fcm: 'Google (Chrome, Edge)',
    mozilla: 'Mozilla (Firefox)',
    apple: 'Apple (Safari)',
    own: 'this site’s push service',
    other: 'a push service',
  };
  const serviceName = (key) => SERVICES[key] || SERVICES.other;

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

  function say(node, text, error = false) {
    node.textContent = text;
    node.classList.toggle('status-error', error);
  }

  function pushSupported() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  function base64UrlToBytes(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  // ---- this browser's subscription for test alerts ----

  const status = make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-nr-test-status': '' });
  const subscribe = make('button', {
    type: 'button', class: 'button button-secondary button-small', 'data-nr-test-subscribe': '',
    text: 'Get test alerts in this browser',
  });
  const unsubscribe = make('button', {
    type: 'button', class: 'button button-secondary button-small', 'data-nr-test-unsubscribe': '',
    text: 'Stop test alerts', hidden: '',
  });
  const box = make('div', { class: 'nr-testsub', 'data-nr-testsub': '' }, [
    make('p', { class: 'hint', text: 'Test alerts reach only this browser, never readers, and count in no figures.' }),
    make('div', { class: 'actions' }, [subscribe, unsubscribe]),
    status,
  ]);
  panel.querySelector('[data-nr-alert-form]').before(box);

  function showStored(info) {
    unsubscribe.hidden = !info.subscribed;
    subscribe.textContent = info.subscribed ? 'Renew test alerts in this browser' : 'Get test alerts in this browser';
    say(status, info.subscribed
      ? `Test alerts go to your browser via ${serviceName(info.push_service)}.`
      : 'No browser gets your test alerts yet.');
  }

  const desk = document.querySelector('[data-nr-desk]');
  // The desk shows once the editor has signed in; the compose panel only for tokens that may send.
  const usable = () => Boolean(desk) && !desk.hidden && !panel.hidden;
  let loaded = false;
  async function refresh() {
    if (!usable()) return;
    loaded = true;
    try {
      showStored(await NR.api('GET', 'me/subscription'));
    } catch (error) {
      say(status, NR.explain(error, 'read your test subscription'), true);
    }
  }

  async function onSubscribe() {
    if (!pushSupported()) {
      say(status, 'This browser cannot receive push notifications.', true);
      return;
    }
    subscribe.disabled = true;
    say(status, 'Asking this browser…');
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        say(status, 'Notifications are blocked for this site in this browser; allow them in its site settings.', true);
        return;
      }
      const answer = await fetch('/api/vapid-public-key', { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (!answer.ok) throw new Error(`vapid-public-key ${answer.status}`);
      const key = base64UrlToBytes((await answer.json()).publicKey || '');
      await navigator.serviceWorker.register('/sw.js', { scope: '/' });
      const registration = await navigator.serviceWorker.ready;
      // One subscription per browser and site: if this browser also reads alerts, it is that one.
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      }
      showStored(await NR.api('PUT', 'me/subscription', { subscription: subscription.toJSON() }));
    } catch (error) {
      if (error && error.code) say(status, NR.explain(error, 'store your test subscription'), true);
      else say(status, `This browser could not subscribe (${(error && error.message) || 'unknown error'}).`, true);
    } finally {
      subscribe.disabled = false;
    }
  }

  async function onUnsubscribe() {
    unsubscribe.disabled = true;
    try {
      showStored(await NR.api('DELETE', 'me/subscription'));
    } catch (error) {
      say(status, NR.explain(error, 'stop test alerts'), true);
    } finally {
      unsubscribe.disabled = false;
    }
  }

  subscribe.addEventListener('click', onSubscribe);
  unsubscribe.addEventListener('click', onUnsubscribe);
  // Read again at every sign-in (the desk hidden, then shown); nothing while signed out.
  const observer = new MutationObserver(() => {
    if (!usable()) loaded = false;
    else if (!loaded) refresh();
  });
  for (const node of [desk, panel]) if (node) observer.observe(node, { attributes: true, attributeFilter: ['hidden'] });
  if (usable()) refresh();

  // ---- "Send a test to me" in the confirm step ----

  const testButton = make('button', {
    type: 'button', class: 'button button-secondary', 'data-nr-test-send': '', text: 'Send a test to me',
  });
  const testStatus = make('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-nr-test-send-status': '' });
  const testRow = make('div', { class: 'nr-test-send' }, [testButton, testStatus]);

  function explainTest(error) {
    switch (error.code) {
      case 'no_test_subscription':
        return 'No browser of yours gets test alerts: choose “Get test alerts in this browser” first.';
      case 'test_subscription_gone':
        return 'Your browser’s test subscription no longer exists (it was removed); subscribe again.';
      case 'push_failed':
        return `The push service did not take the test: ${error.message}.`;
      case 'rate_limited':
        return 'Too many tests in a minute; wait a moment.';
      default:
        return NR.explain(error, 'send the test');
    }
  }

  async function onTest() {
    const id = NR.pendingAlert();
    if (!id) return;
    testButton.disabled = true;
    say(testStatus, 'Sending a test to your browser…');
    try {
      const result = await NR.api('POST', `alerts/${id}/test`);
      say(testStatus, `Test sent: ${serviceName(result.push_service)} accepted it (${result.status}). It shows as “Test · …”.`);
    } catch (error) {
      say(testStatus, explainTest(error), true);
      if (error.code === 'test_subscription_gone') refresh();
    } finally {
      testButton.disabled = false;
    }
  }
  testButton.addEventListener('click', onTest);

  // newsroom.js announces every confirm step it shows (with its preview). The test row goes
  // after Confirm and Cancel, so that Tab from the question still reaches Confirm first.
  confirm.addEventListener('flashwire:confirm', () => {
    say(testStatus, '');
    testButton.disabled = false;
    const actions = confirm.querySelector('.actions');
    if (actions) actions.after(testRow);
    else confirm.append(testRow);
  });
})();
