/**
 * The de-raining page (`GET /derain`): pick an image (rainy, or already de-rained) and a clean
 * reference, choose a base, run, and compare before and after with a slider over the two. Plain
 * HTML and script, no build step; the API key, when the server needs one, is asked for and kept in
 * the page's session storage, as on the chat page.
 */
export const DERAIN_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera · de-raining</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 12px; }
  fieldset { border: 1px solid #ccc; display: flex; flex-wrap: wrap; gap: 12px; align-items: end; }
  label { display: flex; flex-direction: column; gap: 4px; }
  #compare { margin-top: 12px; width: 100%; max-width: 720px; }
  #pair { position: relative; }
  #pair img { display: block; width: 100%; image-rendering: pixelated; }
  #after { position: absolute; top: 0; left: 0; clip-path: inset(0 0 0 50%); }
  #slider { width: 100%; margin: 8px 0 0; }
  #status { min-height: 1.4em; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>Reference-guided de-raining</h1>
<fieldset>
  <label>Image (PNG) <input id="image" type="file" accept="image/png"></label>
  <label>Reference (PNG) <input id="reference" type="file" accept="image/png"></label>
  <label>Base
    <select id="base">
      <option value="">none (already de-rained)</option>
      <option value="prior">prior (guided filter)</option>
      <option value="prenet">PReNet</option>
      <option value="transformer">transformer</option>
    </select>
  </label>
  <label><span><input id="refiner" type="checkbox"> reference-free refiner</span></label>
  <button id="run" type="button">Run</button>
</fieldset>
<p id="status" role="status"></p>
<div id="compare" hidden>
  <div id="pair">
    <img id="before" alt="before">
    <img id="after" alt="after">
  </div>
  <input id="slider" type="range" min="0" max="100" value="50" aria-label="before (left) / after (right)">
</div>
<script>
const $ = (id) => document.getElementById(id);
const status = (text, error) => { $('status').textContent = text; $('status').className = error ? 'error' : ''; };
const readBase64 = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve(String(r.result).split(',')[1]);
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});
$('slider').addEventListener('input', () => {
  $('after').style.clipPath = 'inset(0 0 0 ' + $('slider').value + '%)';
});
async function run(retried) {
  const image = $('image').files[0];
  const reference = $('reference').files[0];
  const refiner = $('refiner').checked;
  if (!image) return status('Choose an image first.', true);
  if (!reference && !refiner) return status('Choose a reference image (or the reference-free refiner).', true);
  status('Running…');
  const body = { image: await readBase64(image) };
  if (reference && !refiner) body.reference = await readBase64(reference);
  if ($('base').value) body.base = $('base').value;
  if (refiner) body.refiner = true;
  const headers = { 'content-type': 'application/json' };
  const key = sessionStorage.getItem('tessera-api-key');
  if (key) headers.authorization = 'Bearer ' + key;
  const res = await fetch('/v1/images/derain', { method: 'POST', headers, body: JSON.stringify(body) });
  if (res.status === 401 && !retried) {
    const k = prompt('API key');
    if (k) { sessionStorage.setItem('tessera-api-key', k); return run(true); }
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) return status((json.error && json.error.message) || ('HTTP ' + res.status), true);
  $('before').src = URL.createObjectURL(image);
  $('after').src = 'data:image/png;base64,' + json.image;
  $('compare').hidden = false;
  status(json.width + '×' + json.height + ' in ' + json.ms.toFixed(0) + ' ms');
}
$('run').addEventListener('click', () => run(false).catch((e) => status(String(e), true)));
</script>
</body>
</html>
`;
