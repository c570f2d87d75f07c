/**
 * The chat page served at `/`: plain HTML and JavaScript, no build step. It streams from
 * /v1/chat/completions with fetch + ReadableStream, stops with an AbortController (the server
 * then cancels generation), and lets the user pick the model and sampling parameters.
 *
 * Layout: a top bar (title, model, settings toggle) over the conversation. The settings panel is
 * a sidebar on wide screens and a panel that drops under the bar on narrow ones (closed at first
 * there), so a 390 px phone gets the whole width for the conversation.
 *
 * The conversation is a list of turns (user text, reply, state). A request carries only the
 * turns before it that completed or were stopped: a failed turn is marked, offers Retry, and is
 * left out of later requests unless a retry succeeds. The API key lives in sessionStorage (this
 * tab only). Model output is inserted as text, never as HTML.
 */
export const CHAT_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera chat</title>
<style>
  :root { font-family: system-ui, sans-serif; color-scheme: light dark; }
  * { box-sizing: border-box; }
  body { margin: 0; height: 100vh; height: 100dvh; display: flex; flex-direction: column; }
  header { display: flex; align-items: center; gap: .5rem; padding: .5rem .75rem; border-bottom: 1px solid #8884; }
  header strong { margin-right: auto; }
  #model { min-width: 0; max-width: 45vw; }
  .layout { flex: 1; display: flex; min-height: 0; position: relative; }
  aside { width: 16rem; flex: none; padding: .25rem 1rem 1rem; border-right: 1px solid #8884; overflow-y: auto; background: Canvas; }
  body[data-settings=closed] aside { display: none; }
  aside label { display: block; font-size: .85rem; margin-top: .8rem; }
  aside input, aside textarea { width: 100%; }
  main { flex: 1; min-width: 0; display: flex; flex-direction: column; }
  #log { flex: 1; overflow-y: auto; padding: .75rem; }
  .msg { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 .75rem; padding: .6rem .8rem; border-radius: .5rem; max-width: 48rem; }
  .user { background: #4a90e222; margin-left: auto; width: fit-content; max-width: min(48rem, 90%); }
  .assistant { background: #8882; }
  .turn.failed .assistant { background: #e2444433; }
  .turn.failed .assistant:empty { display: none; }
  .turn.failed .user { outline: 1px dashed #e24444; }
  .failure { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; font-size: .85rem; margin: -.4rem 0 .75rem; color: #c33; }
  #status { font-size: .8rem; opacity: .7; padding: 0 .75rem .25rem; min-height: 1em; }
  form { display: flex; gap: .5rem; padding: .5rem .75rem .75rem; border-top: 1px solid #8884; }
  #input { flex: 1; min-width: 0; resize: vertical; min-height: 2.5rem; font: inherit; }
  @media (max-width: 760px) {
    aside { position: absolute; z-index: 1; top: 0; left: 0; right: 0; width: auto; max-height: 75%; border-right: 0; border-bottom: 1px solid #8884; box-shadow: 0 .5rem 1rem #0003; }
    form button { padding-inline: .6rem; }
  }
</style>
</head>
<body data-settings="open">
<header>
  <strong>Tessera</strong>
  <select id="model" aria-label="Model"></select>
  <button id="settings_toggle" type="button" aria-controls="settings" aria-expanded="true">Settings</button>
</header>
<div class="layout">
<aside id="settings">
  <small id="model_hint" hidden>The built-in model is tiny (5.8M parameters, 1961 newspaper prose): it continues text, it is not an assistant. Serve your own checkpoint for real chat.</small>
  <label>System prompt <textarea id="system" rows="3"></textarea></label>
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8"></label>
  <label>Top p <input id="top_p" type="number" min="0.01" max="1" step="0.01" value="0.95"></label>
  <label>Max tokens <input id="max_tokens" type="number" min="1" step="1" value="128"></label>
  <label>Seed (optional) <input id="seed" type="number" step="1"></label>
  <label>API key (optional, kept for this tab only) <input id="api_key" type="password" autocomplete="off"></label>
  <p><button id="clear" type="button">New chat</button></p>
</aside>
<main>
  <div id="log" aria-live="polite"></div>
  <div id="status"></div>
  <form id="form">
    <textarea id="input" placeholder="Say something…" rows="2" aria-label="Message"></textarea>
    <button id="send" type="submit">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
  </form>
</main>
</div>
<script type="module">
const $ = (id) => document.getElementById(id);
// Each turn: { user, reply, state: 'pending' | 'done' | 'stopped' | 'failed', el, out, failure }.
const turns = [];
let controller = null;

$('api_key').value = sessionStorage.getItem('tessera.apiKey') || '';
$('api_key').addEventListener('change', () => { sessionStorage.setItem('tessera.apiKey', $('api_key').value); loadModels(); });

function setSettings(open) {
  document.body.dataset.settings = open ? 'open' : 'closed';
  $('settings_toggle').setAttribute('aria-expanded', String(open));
}
const narrow = window.matchMedia('(max-width: 760px)');
setSettings(!narrow.matches);
narrow.addEventListener('change', (e) => setSettings(!e.matches));
$('settings_toggle').addEventListener('click', () => setSettings(document.body.dataset.settings !== 'open'));

function headers() {
  const h = { 'content-type': 'application/json' };
  if ($('api_key').value) h.authorization = 'Bearer ' + $('api_key').value;
  return h;
}

async function loadModels() {
  try {
    const res = await fetch('/v1/models', { headers: headers() });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
    $('model').replaceChildren(...body.data.map((m) => new Option(m.id, m.id)));
    $('model_hint').hidden = !body.data.some((m) => m.id === 'tessera-builtin');
    $('status').textContent = '';
  } catch (e) { $('status').textContent = 'Could not list models: ' + e.message; }
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}
const scrollDown = () => { $('log').scrollTop = $('log').scrollHeight; };

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').disabled = !busy;
  for (const b of document.querySelectorAll('.retry')) b.disabled = busy;
}

/** The messages for a request that generates \`turn\`: the turns before it that completed or were stopped. */
function messagesFor(turn) {
  const messages = $('system').value ? [{ role: 'system', content: $('system').value }] : [];
  for (const t of turns) {
    if (t === turn) break;
    if (t.state === 'done' || t.state === 'stopped') messages.push({ role: 'user', content: t.user }, { role: 'assistant', content: t.reply });
  }
  messages.push({ role: 'user', content: turn.user });
  return messages;
}

function markFailed(turn, message) {
  turn.state = 'failed';
  turn.el.classList.add('failed');
  turn.failure = element('div', 'failure');
  const retry = element('button', 'retry', 'Retry');
  retry.type = 'button';
  retry.addEventListener('click', () => { if (!controller) run(turn); });
  turn.failure.append(element('span', 'failure-text', 'Failed: ' + message + ' — not sent with later messages.'), retry);
  turn.el.append(turn.failure);
}

async function run(turn) {
  turn.state = 'pending';
  turn.reply = '';
  turn.el.classList.remove('failed');
  if (turn.failure) { turn.failure.remove(); turn.failure = null; }
  turn.out.textContent = '';
  const body = {
    model: $('model').value, messages: messagesFor(turn), stream: true,
    temperature: Number($('temperature').value), top_p: Number($('top_p').value), max_tokens: Number($('max_tokens').value),
  };
  if ($('seed').value !== '') body.seed = Number($('seed').value);
  const mine = new AbortController();
  controller = mine;
  setBusy(true);
  $('status').textContent = 'Generating…';
  let finish = '';
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: mine.signal });
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw new Error(err.error ? err.error.message : res.status + ' ' + res.statusText);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split('\\n')) {
          if (!line.startsWith('data: ')) continue;
          const data = line.slice(6);
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          for (const c of chunk.choices) {
            if (c.delta && c.delta.content) { turn.reply += c.delta.content; turn.out.textContent = turn.reply; scrollDown(); }
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
      }
    }
    // A stream that ends without a finish_reason was cut off: the reply may be truncated.
    if (!finish) throw new Error('the response ended before the reply was complete');
    turn.state = 'done';
    $('status').textContent = 'Finished: ' + finish;
  } catch (e) {
    if (e.name === 'AbortError') { turn.state = 'stopped'; $('status').textContent = 'Stopped.'; }
    else { markFailed(turn, e.message); $('status').textContent = ''; }
  } finally {
    if (controller === mine) controller = null;
    setBusy(Boolean(controller));
    scrollDown();
  }
}

function send(text) {
  const turn = { user: text, reply: '', state: 'pending', el: element('div', 'turn'), out: element('div', 'msg assistant'), failure: null };
  turn.el.append(element('div', 'msg user', text), turn.out);
  turns.push(turn);
  $('log').append(turn.el);
  scrollDown();
  run(turn);
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text || controller) return;
  $('input').value = '';
  if (narrow.matches) setSettings(false);
  send(text);
});
$('input').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('form').requestSubmit(); } });
$('stop').addEventListener('click', () => controller && controller.abort());
$('clear').addEventListener('click', () => {
  if (controller) controller.abort();
  turns.length = 0;
  $('log').replaceChildren();
  $('status').textContent = '';
});
loadModels();
</script>
</body>
</html>
`;
