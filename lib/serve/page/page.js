// The seqsam page: open an image, prompt with a box or points, see M masks, their outlines, the mean map
// and the disagreement map. The image is embedded once; every later prompt predicts from its id.
const $ = (id) => document.getElementById(id);
const view = $('view');
const ctx = view.getContext('2d');
// A token given as #token=… (the fragment never reaches the server) goes on every API call.
const token = new URLSearchParams(location.hash.slice(1)).get('token');
const palette = ['#f94144', '#f9c74f', '#43aa8b', '#4d908e', '#577590', '#f8961e', '#90be6d', '#277da1', '#f3722c', '#b5179e', '#7209b7', '#4cc9f0'];

const state = { image: null, dataUrl: null, id: null, width: 0, height: 0, scale: 1, mode: 'box', box: null, points: [], drag: null, result: null, overlay: null, selected: -1, seq: 0 };

function setStatus(text, kind = null) {
  $('status').textContent = text;
  if (kind) document.body.dataset.state = kind;
}

async function api(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await response.json().catch(() => ({ code: 'ERR_NATIVE', message: `HTTP ${response.status}` }));
  if (!response.ok) throw Object.assign(new Error(json.message), { code: json.code, status: response.status });
  return json;
}

// 256-entry colour table through evenly spaced stops.
function colourRamp(stops) {
  const rgb = stops.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  return Array.from({ length: 256 }, (_, v) => {
    const x = (v / 255) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(x));
    const t = x - i;
    return rgb[i].map((c, k) => Math.round(c + (rgb[i + 1][k] - c) * t));
  });
}
const meanColours = colourRamp(['#0f141b', '#2a6f97', '#61c0bf', '#f4f1de']);
const heatColours = colourRamp(['#0f141b', '#6a1b9a', '#e0457b', '#fdd36a']);
const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('the browser cannot show this image'));
    image.src = src;
  });
}

// A greyscale PNG (base64) as one byte per pixel.
async function greyPixels(base64) {
  const image = await loadImage(`data:image/png;base64,${base64}`);
  const canvas = new OffscreenCanvas(image.width, image.height);
  const c = canvas.getContext('2d');
  c.drawImage(image, 0, 0);
  const rgba = c.getImageData(0, 0, image.width, image.height).data;
  const out = new Uint8Array(image.width * image.height);
  for (let i = 0; i < out.length; i++) out[i] = rgba[i * 4];
  return out;
}

function toImageCoords(event) {
  const rect = view.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * state.width;
  const y = ((event.clientY - rect.top) / rect.height) * state.height;
  return [Math.max(0, Math.min(state.width, x)), Math.max(0, Math.min(state.height, y))];
}

// ---- opening and embedding ----

async function openFile(file) {
  if (!file) return;
  if (!/^image\/(png|jpeg)$/.test(file.type)) return setStatus(`${file.name}: open a PNG or JPEG`, 'error');
  const dataUrl = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  const image = await loadImage(dataUrl);
  Object.assign(state, { image, dataUrl, id: null, width: image.naturalWidth, height: image.naturalHeight, box: null, points: [], result: null, overlay: null, selected: -1 });
  state.scale = Math.min(960 / state.width, 640 / state.height);
  view.width = Math.round(state.width * state.scale);
  view.height = Math.round(state.height * state.scale);
  clearResults();
  draw();
  await embed();
}

async function embed() {
  setStatus(`Embedding ${state.width}×${state.height}…`, 'embedding');
  const started = performance.now();
  try {
    const { id, cached } = await api('/v1/embed', { image: state.dataUrl });
    state.id = id;
    setStatus(`Embedded in ${Math.round(performance.now() - started)} ms${cached ? ' (cached)' : ''}. ${state.mode === 'box' ? 'Drag a box' : 'Click points'} on the image.`, 'embedded');
  } catch (error) {
    setStatus(`Embedding failed: ${error.message}`, 'error');
  }
}

// ---- predicting ----

async function predict() {
  if (!state.id || (!state.box && state.points.length === 0)) return;
  const seq = ++state.seq;
  const numMasks = Number($('num-masks').value);
  const body = { id: state.id, numMasks, format: 'png' };
  if (state.box) body.box = state.box.map((v) => Math.round(v * 10) / 10);
  if (state.points.length) {
    body.points = state.points.map((p) => [p[0], p[1]]);
    body.pointLabels = state.points.map((p) => p[2]);
  }
  setStatus('Predicting…', 'predicting');
  const started = performance.now();
  let result;
  try {
    result = await api('/v1/predict', body).catch(async (error) => {
      // The server let the embedding go (its cache is bounded): embed again, once, and retry.
      if (error.status !== 404) throw error;
      await embed();
      return api('/v1/predict', { ...body, id: state.id });
    });
  } catch (error) {
    if (seq === state.seq) setStatus(`Prediction failed: ${error.message}`, 'error');
    return;
  }
  if (seq !== state.seq) return; // a newer prompt is on its way
  const masks = await Promise.all(result.masks.map(greyPixels));
  const mean = await greyPixels(result.mean);
  const disagreement = await greyPixels(result.disagreement);
  if (seq !== state.seq) return;
  state.result = { ...result, masks, mean, disagreement };
  state.selected = -1;
  state.overlay = buildOverlay();
  renderResults();
  draw();
  setStatus(`${result.numMasks} masks in ${Math.round(performance.now() - started)} ms from the cached embedding.`, 'ready');
}

// Outlines of every mask in its colour (the selected one also filled), at the image's resolution.
function buildOverlay() {
  const { width, height, masks } = state.result;
  const canvas = new OffscreenCanvas(width, height);
  const c = canvas.getContext('2d');
  const pixels = c.createImageData(width, height);
  const out = pixels.data;
  masks.forEach((mask, m) => {
    const [r, g, b] = rgbOf(palette[m % palette.length]);
    const selected = m === state.selected;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (!mask[i]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width];
        if (edge || selected) {
          out[i * 4] = r;
          out[i * 4 + 1] = g;
          out[i * 4 + 2] = b;
          out[i * 4 + 3] = edge ? 255 : 90;
        }
      }
    }
  });
  c.putImageData(pixels, 0, 0);
  return canvas;
}

function clearResults() {
  $('thumbs').replaceChildren();
  $('mask-count').textContent = '';
  for (const id of ['mean', 'disagreement']) $(id).getContext('2d').clearRect(0, 0, $(id).width, $(id).height);
}

function paintMap(canvas, values, colours) {
  const { width, height } = state.result;
  canvas.width = width;
  canvas.height = height;
  const c = canvas.getContext('2d');
  const pixels = c.createImageData(width, height);
  for (let i = 0; i < values.length; i++) pixels.data.set([...colours[values[i]], 255], i * 4);
  c.putImageData(pixels, 0, 0);
}

function renderResults() {
  const { width, height, masks, iou } = state.result;
  $('mask-count').textContent = `(${masks.length})`;
  const thumbs = masks.map((mask, m) => {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.title = `mask ${m + 1}${iou ? ` · predicted IoU ${iou[m].toFixed(2)}` : ''}`;
    const c = canvas.getContext('2d');
    c.globalAlpha = 0.45;
    c.drawImage(state.image, 0, 0, width, height);
    c.globalAlpha = 1;
    const layer = c.getImageData(0, 0, width, height);
    const [r, g, b] = rgbOf(palette[m % palette.length]);
    for (let i = 0; i < mask.length; i++) if (mask[i]) layer.data.set([r, g, b, 255], i * 4);
    c.putImageData(layer, 0, 0);
    canvas.addEventListener('click', () => {
      state.selected = state.selected === m ? -1 : m;
      for (const [k, t] of thumbs.entries()) t.classList.toggle('selected', k === state.selected);
      state.overlay = buildOverlay();
      draw();
    });
    return canvas;
  });
  $('thumbs').replaceChildren(...thumbs);
  paintMap($('mean'), state.result.mean, meanColours);
  paintMap($('disagreement'), state.result.disagreement, heatColours);
  $('disagreement-max').textContent = `0 – ${state.result.disagreementMax.toPrecision(2)}`;
}

// ---- drawing the stage ----

function draw() {
  ctx.clearRect(0, 0, view.width, view.height);
  if (!state.image) return;
  ctx.drawImage(state.image, 0, 0, view.width, view.height);
  if (state.overlay) ctx.drawImage(state.overlay, 0, 0, view.width, view.height);
  const s = state.scale;
  if (state.box) {
    const [x0, y0, x1, y1] = state.box;
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = '#ffffff';
    ctx.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
    ctx.setLineDash([]);
  }
  for (const [x, y, label] of state.points) {
    ctx.beginPath();
    ctx.arc(x * s, y * s, 6, 0, Math.PI * 2);
    ctx.fillStyle = label ? '#22c55e' : '#ef4444';
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
}

// ---- interaction ----

function setMode(mode) {
  state.mode = mode;
  for (const m of ['box', 'points']) {
    $(`mode-${m}`).classList.toggle('active', m === mode);
    $(`mode-${m}`).setAttribute('aria-checked', String(m === mode));
  }
}

view.addEventListener('pointerdown', (event) => {
  if (!state.image) return;
  const at = toImageCoords(event);
  if (state.mode === 'points') {
    state.points.push([Math.round(at[0]), Math.round(at[1]), event.shiftKey || event.button === 2 ? 0 : 1]);
    draw();
    void predict();
    return;
  }
  view.setPointerCapture(event.pointerId);
  state.drag = at;
  state.box = [...at, ...at];
  draw();
});
view.addEventListener('pointermove', (event) => {
  if (!state.drag) return;
  const [x, y] = toImageCoords(event);
  const [sx, sy] = state.drag;
  state.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
  draw();
});
view.addEventListener('pointerup', () => {
  if (!state.drag) return;
  state.drag = null;
  const [x0, y0, x1, y1] = state.box;
  if (x1 - x0 < 2 || y1 - y0 < 2) state.box = null;
  draw();
  void predict();
});
view.addEventListener('contextmenu', (event) => state.mode === 'points' && event.preventDefault());

$('file').addEventListener('change', (event) => openFile(event.target.files[0]).catch((e) => setStatus(e.message, 'error')));
$('mode-box').addEventListener('click', () => setMode('box'));
$('mode-points').addEventListener('click', () => setMode('points'));
$('clear').addEventListener('click', () => {
  Object.assign(state, { box: null, points: [], result: null, overlay: null, selected: -1 });
  state.seq++;
  clearResults();
  draw();
  if (state.id) setStatus('Prompt cleared.', 'embedded');
});
let slideTimer;
$('num-masks').addEventListener('input', (event) => {
  $('num-masks-value').textContent = event.target.value;
  clearTimeout(slideTimer);
  slideTimer = setTimeout(() => void predict(), 150);
});

const stage = $('stage');
stage.addEventListener('dragover', (event) => {
  event.preventDefault();
  stage.classList.add('dragging');
});
stage.addEventListener('dragleave', () => stage.classList.remove('dragging'));
stage.addEventListener('drop', (event) => {
  event.preventDefault();
  stage.classList.remove('dragging');
  openFile(event.dataTransfer.files[0]).catch((e) => setStatus(e.message, 'error'));
});

// The slider's top follows the server's limit on M.
fetch('/healthz', { headers: token ? { authorization: `Bearer ${token}` } : {} })
  .then((r) => (r.ok ? r.json() : null))
  .then((health) => health && ($('num-masks').max = String(Math.min(32, health.maxNumMasks))))
  .catch(() => {});
