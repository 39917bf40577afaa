// The demo page: no dependencies, talks to GET /api/model and POST /predict.
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

async function main() {
  const res = await fetch('/api/model');
  const info = await res.json();
  $('model-name').textContent = info.model;
  $('model-meta').textContent =
    `version ${info.version} · backend ${info.backend} · sha256 ${info.sha256.slice(0, 12)}… · ` +
    `labels: ${info.labels.join(', ')}`;
  document.title = `${info.model} v${info.version}`;
  renderEvaluation(info.evaluation);
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
