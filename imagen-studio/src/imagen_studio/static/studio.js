// The studio page: plain JS against the /v1 API. In-flight jobs live in localStorage, so a
// reload or a closed tab re-attaches; every take is followed with a long poll.
"use strict";

const $ = (id) => document.getElementById(id);
const STORE = "imagen.studio.jobs";
// noteSeq: the estimate note shows only the newest writer (an estimate answering late must not
// overwrite the reason a generation was refused)
// historySeq: likewise for the history list (a search typed, or a vanished job's prompt, must
// not be overwritten by an earlier, unfiltered answer arriving last)
const state = { backends: [], refs: [], job: null, following: null, estimate: null, timer: 0, noteSeq: 0, historySeq: 0 };

function saved() {
  try { return JSON.parse(localStorage.getItem(STORE) || "[]"); } catch { return []; }
}
function remember(entry) {
  const rest = saved().filter((item) => item.id !== entry.id);
  localStorage.setItem(STORE, JSON.stringify([entry, ...rest].slice(0, 10)));
}
function forget(id) {
  localStorage.setItem(STORE, JSON.stringify(saved().filter((item) => item.id !== id)));
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const answer = await fetch(path, options);
  let data = null;
  const type = answer.headers.get("content-type") || "";
  if (type.includes("json")) data = await answer.json();
  if (answer.status === 401) $("token-box").hidden = false;
  return { status: answer.status, ok: answer.ok, data };
}

function money(value) {
  if (!value) return null;
  // the estimate endpoint says "usd"; the job JSON form (the core's) says "amount"
  const amount = Number(value.usd ?? value.amount);
  return amount === 0 ? "$0.00" : "$" + (amount < 0.01 ? amount.toFixed(4) : amount.toFixed(2));
}

function request() {
  const body = { prompt: $("prompt").value, takes: Number($("takes").value) || undefined };
  if ($("backend").value) body.backend = $("backend").value;
  if ($("style").value) body.style = $("style").value;
  const shape = $("shape").value;
  if (shape.startsWith("aspect:")) body.aspect = shape.slice(7);
  if (shape.startsWith("size:")) body.size = shape.slice(5);
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  body.refs = state.refs.map((ref) => ref.id);
  return body;
}

function takesText(n) { return `${n} take${n === 1 ? "" : "s"}`; }

function buttonLabel() {
  const n = Number($("takes").value) || 0;
  const cost = state.estimate ? ` · ${state.estimate.label}` : "";
  const running = state.job && !finished(state.job);
  $("generate").textContent = `${running ? "Generating" : "Generate"} ${takesText(n)}${cost}`;
}

async function estimate() {
  const body = request();
  if (!body.prompt.trim()) body.prompt = "estimate";
  const seq = ++state.noteSeq;
  const answer = await api("POST", "/v1/estimate", body);
  if (seq !== state.noteSeq) return;
  const note = $("estimate-note");
  if (answer.ok) {
    state.estimate = answer.data;
    note.textContent = `Estimate: ${answer.data.label} for ${takesText(answer.data.takes)} on ${answer.data.backend}`;
    note.classList.remove("bad");
  } else {
    state.estimate = null;
    note.textContent = answer.data ? answer.data.detail : `error ${answer.status}`;
    note.classList.add("bad");
  }
  buttonLabel();
}
function estimateSoon() { clearTimeout(state.timer); state.timer = setTimeout(estimate, 250); buttonLabel(); }

function showBackendStatus() {
  const chosen = state.backends.find((b) => b.name === $("backend").value);
  const line = $("backend-status");
  if (!chosen) { line.textContent = ""; return; }
  line.textContent = chosen.ready ? `ready · ${chosen.price}` : chosen.status;
  line.classList.toggle("bad", !chosen.ready);
}

async function loadCatalogue() {
  const [backends, styles] = await Promise.all([api("GET", "/v1/backends"), api("GET", "/v1/styles")]);
  if (backends.ok) {
    state.backends = backends.data.backends;
    const select = $("backend");
    select.textContent = "";
    for (const backend of state.backends) {
      const option = document.createElement("option");
      option.value = backend.name;
      option.textContent = backend.ready ? backend.name : `${backend.name} (${backend.status})`;
      if (backend.default) option.selected = true;
      select.append(option);
    }
    $("takes").value = backends.data.default_takes;
    showBackendStatus();
  }
  if (styles.ok) {
    for (const style of styles.data.styles) {
      const option = document.createElement("option");
      option.value = style.name;
      option.textContent = style.description ? `${style.name} — ${style.description}` : style.name;
      $("style").append(option);
    }
  }
}

function finished(job) { return ["done", "failed", "canceled", "interrupted"].includes(job.state); }

function secondsLeft(job) {
  if (!job.eta || finished(job)) return null;
  return Math.max(0, Math.round((Date.parse(job.eta) - Date.now()) / 1000));
}

function progressText(job) {
  const parts = [`${job.takes_done} of ${job.takes_total} done`];
  parts.push(`${money(job.cost_actual) || "$0.00"} spent`);
  if (job.cost_estimate) parts.push(`estimate ~${money(job.cost_estimate)}`);
  const left = secondsLeft(job);
  if (left !== null) parts.push(`~${left} s left`);
  if (finished(job) && job.state !== "done") parts.push(job.state + (job.error ? `: ${job.error.detail}` : ""));
  return parts.join(" · ");
}

function takeFigure(job, take) {
  const figure = document.createElement("figure");
  figure.dataset.take = take.number;
  figure.dataset.state = take.state;
  if (job.picked === take.number) figure.classList.add("picked");
  const caption = document.createElement("figcaption");
  const title = document.createElement("span");
  title.textContent = `take ${take.number}`;
  caption.append(title);
  if (take.state === "done" && take.generation_id) {
    const image = document.createElement("img");
    image.src = `/v1/images/${take.generation_id}?thumb=384`;
    image.alt = `take ${take.number} of “${job.request.prompt}”`;
    image.addEventListener("click", () => openLarge(job, take));
    figure.append(image);
    const open = document.createElement("button");
    open.type = "button"; open.textContent = "Open"; open.addEventListener("click", () => openLarge(job, take));
    const pick = document.createElement("button");
    pick.type = "button"; pick.className = "pick";
    pick.textContent = job.picked === take.number ? "Picked" : "Pick";
    pick.addEventListener("click", () => pickTake(job.id, take.number));
    const download = document.createElement("a");
    download.href = `/v1/images/${take.generation_id}`; download.download = ""; download.textContent = "Download";
    caption.append(open, pick, download);
  } else {
    const pending = document.createElement("div");
    pending.className = "pending";
    pending.textContent = take.state === "running" ? `drawing… ${Math.round(take.progress * 100)}%`
      : take.state === "failed" ? (take.error ? take.error.detail : "failed") : "waiting";
    figure.prepend(pending);
  }
  figure.append(caption);
  return figure;
}

function render(job) {
  state.job = job;
  $("progress").textContent = progressText(job);
  const gallery = $("gallery");
  gallery.textContent = "";
  for (const take of job.takes) gallery.append(takeFigure(job, take));
  $("cancel").hidden = finished(job);
  $("generate").disabled = !finished(job);
  buttonLabel();
}

async function follow(id) {
  state.following = id;
  let version = null;
  while (state.following === id) {
    const query = version === null ? "" : `?wait=25&version=${version}`;
    const answer = await api("GET", `/v1/jobs/${id}${query}`);
    if (state.following !== id) return;
    if (answer.status === 404) { await vanished(id); return; }
    if (!answer.ok) { $("progress").textContent = answer.data ? answer.data.detail : "the server did not answer"; await new Promise((r) => setTimeout(r, 2000)); continue; }
    render(answer.data);
    version = answer.data.version;
    if (finished(answer.data)) { forget(id); state.following = null; loadHistory(); return; }
  }
}

async function vanished(id) {
  const entry = saved().find((item) => item.id === id);
  forget(id);
  state.following = null;
  const notice = $("notice");
  notice.hidden = false;
  notice.textContent = "That generation ended while you were away: here are its takes.";
  $("gallery").textContent = "";
  if (entry && entry.prompt) { $("history-search").value = entry.prompt; }
  await loadHistory();
  $("generate").disabled = false; $("cancel").hidden = true;
}

async function generate(event) {
  if (event) event.preventDefault();
  if (!$("prompt").value.trim() || $("generate").disabled) return;
  $("notice").hidden = true;
  clearTimeout(state.timer);
  state.noteSeq += 1;
  const answer = await api("POST", "/v1/jobs", request());
  if (answer.status !== 202) {
    $("estimate-note").textContent = answer.data ? answer.data.detail : `error ${answer.status}`;
    $("estimate-note").classList.add("bad");
    return;
  }
  remember({ id: answer.data.job_id, prompt: $("prompt").value });
  $("progress").textContent = `0 of ${answer.data.takes} done · estimate ${answer.data.label}`;
  $("generate").disabled = true;
  follow(answer.data.job_id);
}

async function pickTake(id, number) {
  const answer = await api("POST", `/v1/jobs/${id}/pick`, { take: number });
  if (answer.ok) { render(answer.data); $("viewer").open && $("viewer").close(); loadHistory(); }
  else $("progress").textContent = answer.data ? answer.data.detail : "the pick failed";
}

function openLarge(job, take) {
  const viewer = $("viewer");
  $("viewer-title").textContent = `Take ${take.number} of ${job.takes_total}`;
  $("viewer-image").src = `/v1/images/${take.generation_id}`;
  $("viewer-image").alt = `take ${take.number} of “${job.request.prompt}”`;
  $("viewer-download").href = `/v1/images/${take.generation_id}`;
  $("viewer-pick").onclick = () => pickTake(job.id, take.number);
  $("viewer-pick").hidden = false;
  viewer.showModal();
}

async function loadHistory() {
  const text = $("history-search").value.trim();
  const seq = ++state.historySeq;
  const answer = await api("GET", `/v1/history?limit=60${text ? "&text=" + encodeURIComponent(text) : ""}`);
  if (seq !== state.historySeq) return;
  const list = $("history");
  list.textContent = "";
  if (!answer.ok) return;
  for (const item of answer.data.items) {
    const figure = document.createElement("figure");
    if (item.picked) figure.classList.add("picked");
    const image = document.createElement("img");
    image.src = `${item.image}?thumb=256`;
    image.alt = item.prompt || "(prompt not stored)";
    image.title = item.prompt || "";
    image.addEventListener("click", () => {
      $("viewer-title").textContent = item.prompt || "Past take";
      $("viewer-image").src = item.image; $("viewer-image").alt = image.alt;
      $("viewer-download").href = item.image; $("viewer-pick").hidden = true;
      $("viewer").showModal();
    });
    const caption = document.createElement("figcaption");
    caption.textContent = `${item.backend} · take ${item.take}/${item.takes}${item.picked ? " · picked" : ""}`;
    figure.append(image, caption);
    list.append(figure);
  }
}

async function addRefs(files) {
  for (const file of files) {
    const form = new FormData();
    form.append("file", file, file.name);
    const answer = await api("POST", "/v1/uploads", form);
    if (answer.status !== 201) {
      $("estimate-note").textContent = answer.data ? answer.data.detail : `upload failed (${answer.status})`;
      $("estimate-note").classList.add("bad");
      continue;
    }
    const upload = answer.data.uploads[0];
    state.refs.push({ id: upload.id, name: file.name, url: URL.createObjectURL(file) });
  }
  renderRefs();
  estimateSoon();
}

function renderRefs() {
  const list = $("refs");
  list.textContent = "";
  state.refs.forEach((ref, index) => {
    const item = document.createElement("li");
    const image = document.createElement("img"); image.src = ref.url; image.alt = ref.name;
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "×"; remove.setAttribute("aria-label", `remove ${ref.name}`);
    remove.addEventListener("click", () => { state.refs.splice(index, 1); renderRefs(); estimateSoon(); });
    item.append(image, document.createTextNode(ref.name), remove);
    list.append(item);
  });
}

function wire() {
  $("ask").addEventListener("submit", generate);
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) generate(event);
  });
  for (const id of ["prompt", "takes", "seed"]) $(id).addEventListener("input", estimateSoon);
  for (const id of ["backend", "style", "shape"]) $(id).addEventListener("change", () => { showBackendStatus(); estimateSoon(); });
  $("cancel").addEventListener("click", async () => {
    if (state.job) { const answer = await api("POST", `/v1/jobs/${state.job.id}/cancel`); if (answer.ok) render(answer.data); }
  });
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("history-search").addEventListener("input", () => { clearTimeout(state.historyTimer); state.historyTimer = setTimeout(loadHistory, 250); });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); addRefs(event.dataTransfer.files); });
  $("refs-input").addEventListener("change", (event) => { addRefs(event.target.files); event.target.value = ""; });
  $("token-save").addEventListener("click", () => {
    // SameSite=Strict: the browser sends it only on this server's own pages.
    document.cookie = `imagen_token=${encodeURIComponent($("token").value)}; path=/; SameSite=Strict`;
    location.reload();
  });
  setInterval(() => { if (state.job && !finished(state.job)) $("progress").textContent = progressText(state.job); }, 1000);
}

async function start() {
  wire();
  // A job in flight first: its progress (or the news that it ended) must not wait for the
  // backends' statuses, which a loaded server can take a while to list.
  const inFlight = saved();
  loadHistory();
  if (inFlight.length) {
    const entry = inFlight[0];
    if (entry.prompt) $("prompt").value = entry.prompt;
    follow(entry.id);
  }
  await loadCatalogue();
  estimate();
}

start();
