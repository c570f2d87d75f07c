/**
 * The chat page served at `/`: plain HTML and JavaScript, no build step. It streams from
 * /v1/chat/completions with fetch + ReadableStream, stops with an AbortController (the server
 * then cancels generation), and lets the user pick the model and sampling parameters.
 * Model output is inserted as text, never as HTML.
 */
export const CHAT_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera chat</title>
<style>
  :root { font-family: system-ui, sans-serif; color-scheme: light dark; }
  body { margin: 0; display: grid; grid-template-columns: 16rem 1fr; height: 100vh; }
  aside { padding: 1rem; border-right: 1px solid #8884; overflow-y: auto; }
  aside label { display: block; font-size: .85rem; margin-top: .8rem; }
  aside input, aside select, aside textarea { width: 100%; box-sizing: border-box; }
  main { display: flex; flex-direction: column; min-height: 0; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; }
  .msg { white-space: pre-wrap; margin: 0 0 1rem; padding: .6rem .8rem; border-radius: .5rem; max-width: 48rem; }
  .user { background: #4a90e222; margin-left: auto; }
  .assistant { background: #8882; }
  .error { background: #e2444433; }
  form { display: flex; gap: .5rem; padding: 1rem; border-top: 1px solid #8884; }
  #input { flex: 1; resize: vertical; min-height: 2.5rem; font: inherit; }
  #status { font-size: .8rem; opacity: .7; padding: 0 1rem .5rem; min-height: 1em; }
</style>
</head>
<body>
<aside>
  <strong>Tessera</strong>
  <label>Model <select id="model"></select></label>
  <small id="model_hint" hidden>The built-in model is tiny (5.8M parameters, 1961 newspaper prose): it continues text, it is not an assistant. Serve your own checkpoint for real chat.</small>
  <label>System prompt <textarea id="system" rows="3"></textarea></label>
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8"></label>
  <label>Top p <input id="top_p" type="number" min="0.01" max="1" step="0.01" value="0.95"></label>
  <label>Max tokens <input id="max_tokens" type="number" min="1" step="1" value="128"></label>
  <label>Seed (optional) <input id="seed" type="number" step="1"></label>
  <label>API key (optional) <input id="api_key" type="password" autocomplete="off"></label>
  <p><button id="clear" type="button">New chat</button></p>
</aside>
<main>
  <div id="log" aria-live="polite"></div>
  <div id="status"></div>
  <form id="form">
    <textarea id="input" placeholder="Say something…" rows="2"></textarea>
    <button id="send" type="submit">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
  </form>
</main>
<script type="module">
const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;

$('api_key').value = sessionStorage.getItem('tessera.apiKey') || '';
$('api_key').addEventListener('change', () => { sessionStorage.setItem('tessera.apiKey', $('api_key').value); loadModels(); });

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

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  div.textContent = text;
  $('log').append(div);
  $('log').scrollTop = $('log').scrollHeight;
  return div;
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').disabled = !busy;
}

async function send(text) {
  history.push({ role: 'user', content: text });
  bubble('user', text);
  const out = bubble('assistant', '');
  const messages = $('system').value ? [{ role: 'system', content: $('system').value }, ...history] : history;
  const body = {
    model: $('model').value, messages, stream: true,
    temperature: Number($('temperature').value), top_p: Number($('top_p').value), max_tokens: Number($('max_tokens').value),
  };
  if ($('seed').value !== '') body.seed = Number($('seed').value);
  controller = new AbortController();
  setBusy(true);
  $('status').textContent = 'Generating…';
  let reply = '';
  let finish = '';
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: controller.signal });
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
            if (c.delta && c.delta.content) { reply += c.delta.content; out.textContent = reply; $('log').scrollTop = $('log').scrollHeight; }
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
      }
    }
    $('status').textContent = finish ? 'Finished: ' + finish : '';
  } catch (e) {
    if (e.name === 'AbortError') $('status').textContent = 'Stopped.';
    else { out.classList.add('error'); out.textContent = reply + (reply ? '\\n' : '') + 'Error: ' + e.message; $('status').textContent = ''; }
  } finally {
    history.push({ role: 'assistant', content: reply });
    controller = null;
    setBusy(false);
  }
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text || controller) return;
  $('input').value = '';
  send(text);
});
$('input').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('form').requestSubmit(); } });
$('stop').addEventListener('click', () => controller && controller.abort());
$('clear').addEventListener('click', () => { history.length = 0; $('log').replaceChildren(); $('status').textContent = ''; });
loadModels();
</script>
</body>
</html>
`;
