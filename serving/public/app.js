// The model card and demo page: no dependencies, talks to GET /api/model and POST /predict.
const $ = (id) => document.getElementById(id);

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
}

function renderEvaluation(evaluation) {
  const body = $('evaluation').tBodies[0];
  body.replaceChildren();
  if (!evaluation) {
    body.insertRow().insertCell().textContent = 'this artifact has no metrics.json';
    return;
  }
  for (const [key, value] of Object.entries(evaluation)) {
    if (typeof value !== 'number') continue;
    const row = body.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = value.toFixed(4);
  }
  renderPerClass(evaluation);
}

// Precision, recall and F1 of every class, by its name (metrics.json per_class).
function renderPerClass(evaluation) {
  const table = $('per-class');
  const body = table.tBodies[0];
  body.replaceChildren();
  const perClass = evaluation.per_class;
  if (!perClass) return;
  for (const label of evaluation.labels ?? Object.keys(perClass)) {
    const c = perClass[label];
    if (!c) continue;
    const row = body.insertRow();
    row.dataset.label = label;
    row.insertCell().textContent = label;
    for (const v of [c.precision, c.recall, c.f1]) row.insertCell().textContent = v.toFixed(3);
    row.insertCell().textContent = c.support === undefined ? '' : String(c.support);
  }
  table.hidden = body.rows.length === 0;
}

function renderPredictions(answer) {
  const list = $('predictions');
  list.replaceChildren();
  for (const p of answer.predictions) {
    const li = document.createElement('li');
    li.dataset.label = p.label;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${(p.probability * 100).toFixed(1)}%`;
    bar.append(fill);
    const prob = document.createElement('span');
    prob.className = 'prob';
    prob.textContent = `${(p.probability * 100).toFixed(1)}%`;
    li.append(label, bar, prob);
    list.append(li);
  }
  $('request').textContent = `${answer.model} version ${answer.version} · request ${answer.request_id}`;
  $('result').hidden = false;
}

async function classify(blob) {
  $('error').hidden = true;
  $('preview').src = URL.createObjectURL(blob);
  const form = new FormData();
  form.append('image', blob, 'image');
  const res = await fetch('/predict?k=4', { method: 'POST', body: form });
  const answer = await res.json();
  if (!res.ok) {
    $('result').hidden = true;
    showError(answer.error || `HTTP ${res.status}`);
    return;
  }
  renderPredictions(answer);
}

function cell(row, text) {
  row.insertCell().textContent = text;
}

function renderLive(info) {
  const live = info.live;
  const acc = $('live-accuracy');
  if (!live) {
    acc.textContent = 'off';
    $('live-samples').textContent = 'feedback is off on this server';
  } else if (live.accuracy === null) {
    acc.textContent = 'no feedback yet';
    $('live-samples').textContent = 'POST /feedback with the true label of an answer';
  } else {
    acc.textContent = `${(live.accuracy * 100).toFixed(1)}%`;
    acc.className = `tile-value ${live.accuracy >= 0.8 ? 'ok' : 'bad'}`;
    $('live-samples').textContent = `over the last ${live.samples} feedback(s)`;
  }
  const drift = info.drift;
  const status = $('drift-status');
  if (!drift.enabled) {
    status.textContent = 'off';
    $('drift-detail').textContent = drift.reason || 'no reference statistics in the artifact';
  } else if (!drift.scored) {
    status.textContent = 'not enough traffic';
    $('drift-detail').textContent = `${drift.samples} image(s) in the window`;
  } else {
    status.textContent = drift.drifted.length ? 'drift' : 'no drift';
    status.className = `tile-value ${drift.drifted.length ? 'bad' : 'ok'}`;
    $('drift-detail').textContent = drift.drifted.length
      ? `drifted: ${drift.drifted.join(', ')}`
      : `${drift.samples} image(s) in the window`;
  }
}

function renderPlots(info) {
  for (const name of info.plots) {
    const figure = $(name.replace('.png', ''));
    if (!figure) continue;
    figure.querySelector('img').src = `/artifact/${name}`;
    figure.hidden = false;
  }
  $('plots').hidden = info.plots.length === 0;
}

function renderHistory(info) {
  const h = info.history;
  if (!h) return;
  const pins = $('pins').tBodies[0];
  pins.replaceChildren();
  for (const [env, version] of Object.entries(h.pins).sort(([a], [b]) => a.localeCompare(b))) {
    const row = pins.insertRow();
    row.dataset.env = env;
    if (version === info.version) row.className = 'current';
    const v = h.versions[version];
    cell(row, env);
    cell(row, version);
    cell(row, v ? v.createdAt.slice(0, 16).replace('T', ' ') : '');
    cell(row, v && typeof v.metrics.accuracy === 'number' ? v.metrics.accuracy.toFixed(4) : '');
  }
  const promotions = $('promotions').tBodies[0];
  promotions.replaceChildren();
  for (const p of [...h.promotions].reverse()) {
    const row = promotions.insertRow();
    cell(row, p.at.slice(0, 16).replace('T', ' '));
    cell(row, p.env);
    cell(row, p.from ?? '–');
    cell(row, p.to);
    cell(row, p.by ?? '');
  }
  $('where').hidden = false;
}

async function main() {
  const res = await fetch('/api/model');
  const info = await res.json();
  $('model-name').textContent = info.model;
  $('model-meta').textContent =
    `version ${info.version} · backend ${info.backend} · sha256 ${info.sha256.slice(0, 12)}… · ` +
    `labels: ${info.labels.join(', ')}`;
  document.title = `${info.model} v${info.version}`;
  renderEvaluation(info.evaluation);
  renderLive(info);
  renderPlots(info);
  renderHistory(info);
  for (const name of info.samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = name;
    button.dataset.sample = name;
    const img = document.createElement('img');
    img.src = `/samples/${encodeURIComponent(name)}`;
    img.alt = name;
    button.append(img);
    button.addEventListener('click', async () => {
      const r = await fetch(img.src);
      await classify(await r.blob());
    });
    $('samples').append(button);
  }
  $('file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) classify(file).catch((err) => showError(String(err)));
  });
  document.body.dataset.ready = 'true';
}

main().catch((err) => showError(`cannot load model information: ${err}`));
