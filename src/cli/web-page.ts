/**
 * The demo page of `tessera web`: a chat with the model running in the page (a worker-hosted
 * engine from the browser bundle), no server round trip. It shows the download's progress, the
 * backend in use, notices (no WebGPU, no f16) and, after a device loss, a reload button.
 * `?backend=cpu|webgpu|auto` picks the backend (default auto); `?seed=N` fixes the sampling stream
 * (a reply then repeats, as tests need). Model output is inserted as text.
 */
interface PageUrls {
  /** The browser bundle's module URL (its `createWorkerEngine`). */
  bundleUrl: string;
  /** The model folder's URL. */
  modelUrl: string;
}

/** The page's markup; its style and script are the parts below. */
export function webPageHtml(o: PageUrls): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera in the browser</title>
<style>
${PAGE_STYLE}</style>
</head>
<body>
<h1>Tessera in the browser</h1>
<div id="status">loading…</div>
<div id="notices"></div>
<div id="log"></div>
<form id="form"><textarea id="prompt" placeholder="Say something" disabled></textarea><button id="send" disabled>Send</button><button id="reload" type="button" hidden>Reload</button></form>
<script type="module">
${pageScript(o)}</script>
</body>
</html>
`;
}

const PAGE_STYLE = `  :root { font-family: system-ui, sans-serif; color-scheme: light dark; }
  body { margin: 0 auto; max-width: 46rem; padding: 1rem; display: flex; flex-direction: column; gap: .75rem; }
  #status { font-size: .9rem; opacity: .8; }
  #notices:empty { display: none; }
  #notices { font-size: .9rem; border-left: 3px solid #c90; padding-left: .5rem; }
  #log { display: flex; flex-direction: column; gap: .5rem; }
  .turn { white-space: pre-wrap; padding: .5rem .75rem; border-radius: .5rem; }
  .user { background: #8882; align-self: flex-end; }
  .assistant { border: 1px solid #8884; }
  form { display: flex; gap: .5rem; }
  textarea { flex: 1; min-height: 3rem; font: inherit; }
`;

/** The page's module script: loads the engine in a worker, streams replies, offers a reload after a device loss. */
function pageScript(o: PageUrls): string {
  return `import { createWorkerEngine } from ${JSON.stringify(o.bundleUrl)};
const $ = (id) => document.getElementById(id);
const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
const seedParam = new URLSearchParams(location.search).get('seed');
const sampling = seedParam === null ? {} : { seed: Number(seedParam) };
const messages = [];
let engine = null;
const setStatus = (text) => { $('status').textContent = text; document.body.dataset.state = text.split(' ')[0]; };
const notice = (text) => { const p = document.createElement('div'); p.textContent = text; $('notices').append(p); };
const ready = (on) => { $('prompt').disabled = $('send').disabled = !on; };
async function start(next) {
  ready(false);
  setStatus('loading…');
  try {
    engine = await next;
    setStatus('ready: ' + engine.model + ' on ' + engine.backend);
    ready(true);
  } catch (e) {
    setStatus('failed: ' + e.name + ': ' + e.message);
  }
}
const options = {
  modelUrl: ${JSON.stringify(o.modelUrl)},
  backend,
  onProgress: (p) => setStatus('loading… ' + (p.total ? Math.round((100 * p.loaded) / p.total) + '%' : p.loaded + ' bytes')),
  onNotice: (message) => notice(message),
  onDeviceLost: (e) => { ready(false); setStatus('lost: ' + e.message); $('reload').hidden = false; },
};
$('reload').onclick = () => { $('reload').hidden = true; void start(engine.reload()); };
$('form').onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $('prompt').value.trim();
  if (!text || !engine) return;
  $('prompt').value = '';
  messages.push({ role: 'user', content: text });
  const you = document.createElement('div'); you.className = 'turn user'; you.textContent = text;
  const reply = document.createElement('div'); reply.className = 'turn assistant';
  $('log').append(you, reply);
  ready(false);
  setStatus('generating…');
  try {
    for await (const chunk of await engine.chat.completions.create({ messages, max_tokens: 128, stream: true, ...sampling })) {
      reply.textContent += chunk.choices[0]?.delta.content ?? '';
    }
    messages.push({ role: 'assistant', content: reply.textContent });
    setStatus('ready: ' + engine.model + ' on ' + engine.backend);
    ready(true);
  } catch (e) {
    reply.textContent += ' [' + e.name + ': ' + e.message + ']';
    messages.pop();
    if (!engine.lost) { setStatus('ready: ' + engine.model + ' on ' + engine.backend); ready(true); }
  }
};
void start(createWorkerEngine(options));
`;
}
